#!/usr/bin/env python3
"""A stand-in for AWS STS, just enough for `terraform plan` with the real AWS
provider and no network: answers GetCallerIdentity with account 123456789012
and refuses everything else (any other AWS call in a plan is a bug to see).

Usage: fake_sts.py PORT_FILE  - listens on 127.0.0.1 on a free port, writes
the port to PORT_FILE, and serves until killed.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

IDENTITY = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    "<GetCallerIdentityResult>"
    "<Arn>arn:aws:iam::123456789012:user/offline-plan</Arn>"
    "<UserId>AIDAOFFLINEPLAN000001</UserId>"
    "<Account>123456789012</Account>"
    "</GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
)


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, as the AWS SDK expects; each connection has its own thread.
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if form.get("Action") == ["GetCallerIdentity"]:
            self.reply(200, IDENTITY)
        else:
            sys.stderr.write(f"fake_sts: unexpected AWS call: {self.path} {form}\n")
            self.reply(400, "<ErrorResponse><Error><Code>InvalidAction</Code>"
                            "<Message>offline plan: unexpected AWS call</Message></Error></ErrorResponse>")

    def do_GET(self):
        self.reply(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>")

    def reply(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
