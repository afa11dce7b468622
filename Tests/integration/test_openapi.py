"""docs/openapi.json: valid OpenAPI 3, listing exactly the native routes (NativeErrors.swift's table, plus
the open /healthz, /readyz, /livez, /metrics, the page / and /favicon.ico), embedded verbatim in
Sources/SinkholeOps/OpenAPIDocument.swift and served as is at GET /api/v1/openapi.json.

After editing docs/openapi.json, regenerate the Swift file:
    python3 Tests/integration/test_openapi.py --write
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
SOURCES = REPO_ROOT / "Sources" / "SinkholeOps"
SWIFT = SOURCES / "OpenAPIDocument.swift"
# `static let json = ##"""` ... `"""##`: the text between the delimiter lines is the string.
EMBEDDED = re.compile(r'static let json = (#+)"""\n(.*?)\n"""\1$', re.DOTALL | re.MULTILINE)
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def document_text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def embedded_text() -> str:
    match = EMBEDDED.search(SWIFT.read_text(encoding="utf-8"))
    assert match, f"no `static let json = #\"\"\"...\"\"\"#` in {SWIFT}"
    return match.group(2)


def swift_source(text: str) -> str:
    """OpenAPIDocument.swift holding `text`, with raw-string delimiters nothing in it can end."""
    hashes = "#"
    while f'"""{hashes}' in text or f"\\{hashes}" in text:
        hashes += "#"
    return (
        "// Generated from docs/openapi.json: edit that file, then run\n"
        "//     python3 Tests/integration/test_openapi.py --write\n"
        "// Tests/integration/test_openapi.py checks that this string and the file are identical.\n"
        "\n"
        "/// The OpenAPI 3 document of the native routes, served at `GET /api/v1/openapi.json`.\n"
        "enum OpenAPIDocument {\n"
        f'    static let json = {hashes}"""\n'
        f"{text}\n"
        f'"""{hashes}\n'
        "}\n"
    )


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def native_routes() -> set[tuple[str, str]]:
    """NativeRouteErrors.routes, as (OpenAPI path template, method)."""
    source = (SOURCES / "NativeErrors.swift").read_text()
    table = source.split("static var routes", 1)[1].split("].map", 1)[0]
    entries = re.findall(r'\("([^"]+)",\s*\[([^\]]*)\]\)', table)
    assert len(entries) >= 20, entries
    routes = set()
    for path, methods in entries:
        template = "/" + re.sub(r":(\w+)", r"{\1}", path)
        names = re.findall(r"\.(\w+)", methods)
        assert names, (path, methods)
        routes |= {(template, name.lower()) for name in names}
    return routes


def open_paths() -> set[str]:
    """BearerAuthentication.openPaths: the routes that need no token."""
    source = (SOURCES / "APIAccess.swift").read_text()
    match = re.search(r"openPaths: Set<String> \{ \[([^\]]*)\] \}", source)
    assert match, "no openPaths in APIAccess.swift"
    return set(re.findall(r'"([^"]+)"', match.group(1)))


# -- one document ---------------------------------------------------------------------------


def test_the_swift_file_embeds_docs_openapi_json_verbatim():
    assert embedded_text() == document_text(), (
        "Sources/SinkholeOps/OpenAPIDocument.swift is out of date: run python3 Tests/integration/test_openapi.py --write"
    )


def test_the_document_is_pretty_printed_with_two_spaces():
    text = document_text()
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text


def test_the_server_serves_the_document(sinkhole):
    server = sinkhole("--mode", "accept", "--capture", "memory")
    response = requests.get(f"http://127.0.0.1:{server.http_port}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == DOCUMENT.read_bytes()
    # Not a POST route: the usual 405 with Allow.
    response = requests.post(f"http://127.0.0.1:{server.http_port}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET"


# -- what it describes ------------------------------------------------------------------------


def test_the_document_lists_exactly_the_native_routes_and_the_open_ones():
    document = json.loads(document_text())
    described = set(operations(document))
    opened = open_paths()
    assert opened == {"/healthz", "/readyz", "/livez", "/metrics", "/", "/favicon.ico"}, opened
    expected = native_routes() | {(path, "get") for path in opened}
    assert described == expected, (
        f"in the document only: {sorted(described - expected)}; in the code only: {sorted(expected - described)}"
    )


def test_the_open_routes_and_only_they_need_no_token():
    document = json.loads(document_text())
    assert document["security"] == [{"bearerAuth": []}]
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer"), scheme
    opened = open_paths()
    for (path, method), operation in operations(document).items():
        if path in opened:
            assert operation.get("security") == [], (path, method)
        else:
            assert "security" not in operation, (path, method)
            assert "401" in operation["responses"], (path, method)


def test_every_operation_has_an_id_a_summary_and_a_success():
    document = json.loads(document_text())
    assert document["openapi"] == "3.0.3"
    assert (document["info"]["title"], document["info"]["version"]) == ("sinkhole control API", "1")
    ids = []
    for key, operation in operations(document).items():
        assert operation.get("summary"), key
        ids.append(operation["operationId"])
        assert any(status.startswith("2") for status in operation["responses"]), key
    assert len(ids) == len(set(ids)), sorted(ids)


def test_the_document_is_valid_openapi_3():
    from openapi_spec_validator import validate  # `make deps` installs openapi-spec-validator

    validate(json.loads(document_text()))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {sys.argv[0]} --write   (rewrites {SWIFT.relative_to(REPO_ROOT)} from docs/openapi.json)")
    SWIFT.write_text(swift_source(document_text()), encoding="utf-8")
    print(f"wrote {SWIFT.relative_to(REPO_ROOT)}")
