#!/usr/bin/env python3
"""Writes sigv4_vectors.json: SigV4 signatures of SSM GetParameter requests, made by botocore.

The Swift signer is checked against these. botocore signs with a fixed time
(`botocore.auth.get_current_datetime` patched) and the example credentials of
the AWS documentation, so the output is the same on every run:

    python3 Tests/AWSTests/Fixtures/make_sigv4_vectors.py

Signed headers: the request's own (X-Amz-Target, Content-Type), Host (from the
URL: with the port only when it is not the scheme's default), X-Amz-Date and,
with a session token, X-Amz-Security-Token. No User-Agent, no Content-Length.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED_TIME = datetime.datetime(2015, 8, 30, 12, 36, 0)  # naive UTC, as botocore's get_current_datetime gives
AMZ_DATE = "20150830T123600Z"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLEsessiontoken/with+slash=and/plus+"
    "AQoDYXdzEJr//////////wEaDEXAMPLETOKENVALUE=="
)
HEADERS = {"X-Amz-Target": "AmazonSSM.GetParameter", "Content-Type": "application/x-amz-json-1.1"}
OUTPUT = Path(__file__).resolve().with_name("sigv4_vectors.json")

CASES = [
    {
        "name": "get_parameter",
        "url": "https://ssm.us-east-1.amazonaws.com/",
        "region": "us-east-1",
        "session_token": None,
        "body": '{"Name": "/cabal/sinkhole_mode"}',
    },
    {
        "name": "get_parameter_with_decryption",
        "url": "https://ssm.us-east-1.amazonaws.com/",
        "region": "us-east-1",
        "session_token": None,
        "body": '{"Name": "/cabal/sinkhole_mode", "WithDecryption": true}',
    },
    {
        "name": "get_parameter_with_session_token",
        "url": "https://ssm.us-east-1.amazonaws.com/",
        "region": "us-east-1",
        "session_token": SESSION_TOKEN,
        "body": '{"Name": "/cabal/sinkhole_mode"}',
    },
    {
        "name": "get_parameter_eu_west_2_port_in_host",
        "url": "http://localhost:4566/",
        "region": "eu-west-2",
        "session_token": None,
        "body": '{"Name": "/cabal/sinkhole_mode"}',
    },
]


class RecordingSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that keeps the intermediate strings of the one signature it makes."""

    def canonical_request(self, request):
        self.recorded_canonical_request = super().canonical_request(request)
        return self.recorded_canonical_request

    def string_to_sign(self, request, canonical_request):
        self.recorded_string_to_sign = super().string_to_sign(request, canonical_request)
        return self.recorded_string_to_sign

    def signature(self, string_to_sign, request):
        self.recorded_signature = super().signature(string_to_sign, request)
        return self.recorded_signature

    def signed_headers(self, headers_to_sign):
        self.recorded_signed_headers = super().signed_headers(headers_to_sign)
        return self.recorded_signed_headers


def sign(case: dict) -> dict:
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, case["session_token"])
    signer = RecordingSigV4Auth(credentials, "ssm", case["region"])
    request = AWSRequest(method="POST", url=case["url"], headers=dict(HEADERS), data=case["body"].encode())
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED_TIME):
        signer.add_auth(request)
    # The time really was the fixed one, in every place it shows.
    assert request.headers["X-Amz-Date"] == AMZ_DATE, request.headers["X-Amz-Date"]
    assert f"\n{AMZ_DATE}\n20150830/{case['region']}/ssm/aws4_request\n" in signer.recorded_string_to_sign
    assert f"Credential={ACCESS_KEY}/20150830/{case['region']}/ssm/aws4_request," in request.headers["Authorization"]
    expected_signed = "content-type;host;x-amz-date" + (";x-amz-security-token" if case["session_token"] else "") + ";x-amz-target"
    assert signer.recorded_signed_headers == expected_signed, signer.recorded_signed_headers
    return {
        "name": case["name"],
        "method": "POST",
        "url": case["url"],
        "region": case["region"],
        "service": "ssm",
        "amz_date": AMZ_DATE,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "session_token": case["session_token"],
        "headers": dict(HEADERS),
        "body": case["body"],
        "canonical_request": signer.recorded_canonical_request,
        "string_to_sign": signer.recorded_string_to_sign,
        "signed_headers": signer.recorded_signed_headers,
        "signature": signer.recorded_signature,
        "authorization": request.headers["Authorization"],
    }


def main() -> None:
    document = {"generator": f"botocore {botocore.__version__}", "vectors": [sign(case) for case in CASES]}
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {len(document['vectors'])} vectors to {OUTPUT}")


if __name__ == "__main__":
    main()
