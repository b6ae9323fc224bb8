"""DEBUG records in the shapes botocore, urllib3, hpack and httpcore write them lose their secrets.

Each case is the library's own format string and argument types (copied from its source), so
the test follows what reaches ``configure_logging`` when those loggers run at DEBUG.
"""

from __future__ import annotations

import io

import pytest

from internal_base.logging import get_logger

TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


class Prepared:
    """Stands in for botocore's AWSPreparedRequest, whose repr lists the headers as bytes."""

    def __repr__(self) -> str:
        headers = {
            "X-Amz-Date": b"20260101T000000Z",
            "X-Amz-Security-Token": TOKEN.encode(),
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE12/20260101/us-east-1/sqs/aws4_request, "
                f"SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={SIGNATURE}"
            ).encode(),
        }
        return f"<AWSPreparedRequest stream_output=False, method=POST, url=https://sqs/, headers={headers}>"


CASES = [
    ("botocore.endpoint", "Sending http request: %s", (Prepared(),)),
    ("botocore.auth", "CanonicalRequest:\n%s", (f"POST\n/\n\nhost:sqs\nx-amz-security-token:{TOKEN}\n",)),
    ("botocore.auth", "Signature:\n%s", (SIGNATURE,)),
    (
        "botocore.parsers",
        "Response body:\n%r",
        (
            f"<AssumeRoleResponse><Credentials><SecretAccessKey>{SECRET}</SecretAccessKey>"
            f"<SessionToken>{TOKEN}</SessionToken></Credentials></AssumeRoleResponse>".encode(),
        ),
    ),
    (
        "botocore.endpoint",
        "Making request for %s with params: %s",
        ("OperationModel(name=PutSecretValue)", {"body": {"SecretString": SECRET}, "headers": {}}),
    ),
    (
        "urllib3.connectionpool",
        '%s://%s:%s "%s %s %s" %s %s',
        (
            "https",
            "bucket.s3",
            443,
            "GET",
            f"/key?X-Amz-Credential=ASIA%2F1&X-Amz-Security-Token={TOKEN}&X-Amz-Signature={SIGNATURE}",
            "HTTP/1.1",
            200,
            12,
        ),
    ),
    (
        "hpack.hpack",
        "Adding %s=%s to the header table, sensitive:%s, huffman:%s",
        (b"cookie", TOKEN.encode(), False, True),
    ),
    ("hpack.hpack", "Decoded %s, consumed %d", ((b"authorization", f"Bearer {TOKEN}".encode()), 40)),
    ("hpack.hpack", "Encoded header block to %s", (b"\x82\x86\x84A\x8a" + TOKEN.encode(),)),
    ("hpack.table", "Evicting %s: %s from the header table", (b"x-subject-token", TOKEN.encode())),
    (
        "httpcore.http11",
        "receive_response_headers.complete return_value=%s",
        ((b"HTTP/1.1", 200, b"OK", [(b"set-cookie", f"sid={TOKEN}; Path=/".encode())]),),
    ),
]


@pytest.mark.parametrize(("logger", "message", "args"), CASES, ids=[f"{c[0]}:{c[1][:20]}" for c in CASES])
def test_library_debug_records_are_redacted(
    output: io.StringIO, logger: str, message: str, args: tuple[object, ...]
) -> None:
    """The secret in the library's record never reaches the formatted line."""
    get_logger(logger).debug(message, *args)
    text = output.getvalue()
    assert text
    assert [secret for secret in (TOKEN, SECRET, SIGNATURE) if secret in text] == []
