"""The fault-injecting AWS proxy in front of the real moto server (raw JSON-protocol requests)."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
import zlib
from typing import Any

import pytest

from internal_testing._proxy import AwsProxy

pytestmark = pytest.mark.skipif(importlib.util.find_spec("moto") is None, reason="moto is not installed")

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def call(url: str, target: str, document: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST one JSON-protocol request; return status, parsed body and headers."""
    service = "dynamodb" if target.startswith("DynamoDB") else "sqs"
    request = urllib.request.Request(  # - loopback URL built by the test
        url + "/",
        data=json.dumps(document).encode(),
        headers={
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH.format(service=service),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def dynamo(url: str, operation: str, **document: Any) -> dict[str, Any]:
    status, body, _ = call(url, f"DynamoDB_20120810.{operation}", document)
    assert status == 200, body
    return body


@pytest.fixture()
def table(aws_endpoint_url: str, unique_name: str) -> Any:
    """A DynamoDB table on the real server (key ``pk``), deleted afterwards."""
    dynamo(
        aws_endpoint_url,
        "CreateTable",
        TableName=unique_name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    yield unique_name
    dynamo(aws_endpoint_url, "DeleteTable", TableName=unique_name)


def stored_keys(url: str, table: str) -> list[str]:
    return sorted(item["pk"]["S"] for item in dynamo(url, "Scan", TableName=table)["Items"])


def puts(*keys: str) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": {"pk": {"S": key}}}} for key in keys]


def test_requests_pass_through_unchanged(aws_proxy: AwsProxy, aws_endpoint_url: str, table: str) -> None:
    """Without faults every request reaches the server and the answer comes back as it was."""
    result = dynamo(aws_proxy.url, "BatchWriteItem", RequestItems={table: puts("a", "b")})
    assert result["UnprocessedItems"] == {}
    assert stored_keys(aws_endpoint_url, table) == ["a", "b"]
    assert aws_proxy.operations["BatchWriteItem"] == 1


def test_unprocessed_items_are_really_not_written(
    aws_proxy: AwsProxy, aws_endpoint_url: str, table: str
) -> None:
    """Half of a batch comes back unprocessed, and exactly those items are missing on the server."""
    aws_proxy.unprocessed_fraction = 0.5
    status, result, headers = call(
        aws_proxy.url,
        "DynamoDB_20120810.BatchWriteItem",
        {"RequestItems": {table: puts("a", "b", "c", "d", "e")}},
    )
    assert status == 200
    unprocessed = sorted(r["PutRequest"]["Item"]["pk"]["S"] for r in result["UnprocessedItems"][table])
    assert unprocessed == ["d", "e"]
    assert stored_keys(aws_endpoint_url, table) == ["a", "b", "c"]
    assert aws_proxy.held_back == 2
    assert aws_proxy.forwarded_writes == 3
    body = json.dumps(result).encode()
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))


def test_a_batch_held_back_entirely_is_not_forwarded(
    aws_proxy: AwsProxy, aws_endpoint_url: str, table: str
) -> None:
    """With fraction 1 nothing is written and every item is reported unprocessed."""
    aws_proxy.unprocessed_fraction = 1.0
    result = dynamo(aws_proxy.url, "BatchWriteItem", RequestItems={table: puts("a", "b")})
    assert len(result["UnprocessedItems"][table]) == 2
    assert stored_keys(aws_endpoint_url, table) == []


def test_corrupted_receipt_handles_are_rejected_by_the_server(
    aws_proxy: AwsProxy, aws_endpoint_url: str, unique_name: str
) -> None:
    """A DeleteMessage through the proxy fails at the server; the message stays in the queue."""
    _, created, _ = call(aws_endpoint_url, "AmazonSQS.CreateQueue", {"QueueName": unique_name})
    queue = created["QueueUrl"]
    try:
        call(aws_endpoint_url, "AmazonSQS.SendMessage", {"QueueUrl": queue, "MessageBody": "keep"})
        _, received, _ = call(
            aws_endpoint_url, "AmazonSQS.ReceiveMessage", {"QueueUrl": queue, "VisibilityTimeout": 0}
        )
        handle = received["Messages"][0]["ReceiptHandle"]
        aws_proxy.corrupt_receipt_handles = {"DeleteMessage"}
        status, error, _ = call(
            aws_proxy.url, "AmazonSQS.DeleteMessage", {"QueueUrl": queue, "ReceiptHandle": handle}
        )
        assert status == 400
        assert "ReceiptHandleIsInvalid" in json.dumps(error)
        _, again, _ = call(aws_endpoint_url, "AmazonSQS.ReceiveMessage", {"QueueUrl": queue})
        assert [m["Body"] for m in again["Messages"]] == ["keep"]
    finally:
        call(aws_endpoint_url, "AmazonSQS.DeleteQueue", {"QueueUrl": queue})


def test_batch_get_keys_held_back_are_reported_unread(
    aws_proxy: AwsProxy, aws_endpoint_url: str, table: str
) -> None:
    """Half of a BatchGetItem's keys come back as UnprocessedKeys, the others as items."""
    dynamo(aws_endpoint_url, "BatchWriteItem", RequestItems={table: puts("a", "b", "c", "d")})
    aws_proxy.unprocessed_fraction = 0.5
    keys = [{"pk": {"S": key}} for key in "abcd"]
    result = dynamo(
        aws_proxy.url, "BatchGetItem", RequestItems={table: {"Keys": keys, "ConsistentRead": True}}
    )
    assert sorted(item["pk"]["S"] for item in result["Responses"][table]) == ["a", "b"]
    assert result["UnprocessedKeys"][table] == {"Keys": keys[2:], "ConsistentRead": True}
    aws_proxy.unprocessed_fraction = 1.0
    nothing = dynamo(aws_proxy.url, "BatchGetItem", RequestItems={table: {"Keys": keys[:1]}})
    assert nothing == {"Responses": {}, "UnprocessedKeys": {table: {"Keys": keys[:1]}}}


def test_fail_next_answers_500_without_forwarding(
    aws_proxy: AwsProxy, aws_endpoint_url: str, table: str
) -> None:
    """The next N calls of an operation get a 500 InternalFailure and never reach the server."""
    aws_proxy.fail_next["BatchWriteItem"] = 1
    status, error, _ = call(
        aws_proxy.url, "DynamoDB_20120810.BatchWriteItem", {"RequestItems": {table: puts("a")}}
    )
    assert status == 500
    assert error["__type"] == "InternalFailure"
    assert stored_keys(aws_endpoint_url, table) == []
    dynamo(aws_proxy.url, "BatchWriteItem", RequestItems={table: puts("a")})
    assert stored_keys(aws_endpoint_url, table) == ["a"]
    aws_proxy.failure = (403, "AccessDenied")
    aws_proxy.fail_next["ListTables"] = 1
    status, error, _ = call(aws_proxy.url, "DynamoDB_20120810.ListTables", {})
    assert (status, error["__type"]) == (403, "AccessDenied")


def test_a_stopped_proxy_refuses_connections(aws_endpoint_url: str) -> None:
    """stop() closes the port; the proxy only accepts http upstreams."""
    proxy = AwsProxy(aws_endpoint_url).start()
    url = proxy.url
    proxy.stop()
    with pytest.raises(OSError):
        call(url, "DynamoDB_20120810.ListTables", {})
    with pytest.raises(ValueError, match="plain http"):
        AwsProxy("https://example.com")
