"""Exercise a running examples/service over HTTP and check its JSON log (standard library only).

`.ci/decoy_publish.sh` installs the example from the internal index into a fresh venv, starts it under
uvicorn against the real services and runs ``python3 tests/e2e/example_service.py URL LOG``. Checked:

* an order placed with one correlation ID is priced by an outgoing call, stored, sent on SQS and
  confirmed by the consumer, and that ID is on the access lines of both requests, on the producer's log
  line and on the consumer's;
* errors are ``application/problem+json`` carrying the request's correlation ID (404, 400, 422);
* readiness is 200 and lists the database, the cache, the HTTP client, the queue and the consumer;
* every line the service wrote is one JSON object, with no ANSI colour codes.

Prints one PASS/FAIL line per check; exits 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Response", "main", "request", "run_checks"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Response:
    """What the service answered."""

    status: int
    headers: dict[str, str]
    body: Any


def request(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> Response:
    """One HTTP request; the body is parsed as JSON when it is JSON."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with _OPENER.open(req, timeout=30) as answer:
            status, raw, got = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Response(status, {k.lower(): v for k, v in got.items()}, parsed)


@dataclass
class Checks:
    """PASS/FAIL lines, printed as they come."""

    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: object = "") -> bool:
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f" ({detail})"), flush=True)
        if not ok:
            self.failed.append(name)
        return ok


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _log_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


def _records(log: Path) -> list[dict[str, Any]]:
    records = []
    for line in _log_lines(log):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def _is_problem(response: Response, status: int, correlation_id: str) -> bool:
    return (
        response.status == status
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and isinstance(response.body, dict)
        and response.body.get("status") == status
        and response.body.get("correlation_id") == correlation_id
    )


def run_checks(base_url: str, log: Path) -> Checks:
    """Run every check against the service at ``base_url`` whose output goes to ``log``."""
    checks = Checks()
    correlation_id = f"example-{uuid.uuid4().hex[:12]}"
    sent = {"x-correlation-id": correlation_id}

    placed = request("POST", f"{base_url}/orders", {"sku": "widget-7", "quantity": 3}, sent)
    checks.check("POST /orders is 201", placed.status == 201, placed.body)
    checks.check(
        "the response echoes the correlation ID", placed.headers.get("x-correlation-id") == correlation_id
    )
    order_id = placed.body.get("id") if isinstance(placed.body, dict) else None
    checks.check(
        "the order was priced by the outgoing call",
        isinstance(placed.body, dict) and placed.body.get("total_cents", 0) > 0,
        placed.body,
    )

    def confirmed() -> bool:
        answer = request("GET", f"{base_url}/orders/{order_id}")
        return answer.status == 200 and answer.body.get("status") == "confirmed"

    checks.check("the consumer confirmed the order (SQS round trip)", _wait_for(confirmed, 30))

    def traced(logger: str, message_part: str) -> bool:
        return any(
            r.get("correlation_id") == correlation_id
            and str(r.get("logger", "")).startswith(logger)
            and message_part in str(r.get("message", ""))
            for r in _records(log)
        )

    checks.check(
        "access log: POST /orders has the correlation ID",
        _wait_for(lambda: traced("internal_fastapi.access", "POST /orders"), 10),
    )
    checks.check(
        "outgoing call: its request arrived with the same correlation ID",
        traced("internal_fastapi.access", "GET /prices/widget-7"),
    )
    checks.check(
        "producer log line has the correlation ID", traced("orders_service", f"order {order_id} placed")
    )
    checks.check(
        "consumer log line has the correlation ID (restored from the SQS message)",
        traced("orders_service.worker", f"order {order_id} confirmed"),
    )

    missing = request("GET", f"{base_url}/orders/987654321", headers=sent)
    checks.check(
        "unknown order is a 404 problem+json", _is_problem(missing, 404, correlation_id), missing.body
    )
    unknown = request("POST", f"{base_url}/orders", {"sku": "discontinued-1", "quantity": 1}, sent)
    checks.check(
        "unknown sku (upstream 404) is a 400 problem+json",
        _is_problem(unknown, 400, correlation_id),
        unknown.body,
    )
    invalid = request("POST", f"{base_url}/orders", {"sku": "", "quantity": 0}, sent)
    checks.check(
        "invalid body is a 422 problem+json", _is_problem(invalid, 422, correlation_id), invalid.body
    )
    garbage = request("GET", f"{base_url}/orders/not-a-number", headers=sent)
    checks.check("a malformed path parameter is a 422, not a 500", garbage.status == 422, garbage.body)

    ready = request("GET", f"{base_url}/health/ready")
    names = [c.get("name", "") for c in ready.body.get("checks", [])] if isinstance(ready.body, dict) else []
    checks.check("readiness is 200", ready.status == 200, ready.body)
    for component in ("rdbms", "redis", "http:", "aws.sqs:", "aws.sqs.consumer:"):
        checks.check(f"readiness lists {component}", any(n.startswith(component) for n in names), names)

    lines = _log_lines(log)
    not_json = [line for line in lines if not line.startswith("{") or not _parses(line)]
    checks.check("every log line is one JSON object", bool(lines) and not not_json, not_json[:3])
    checks.check(
        "no ANSI colour codes in the log", not any("\x1b[" in line or "\\u001b[" in line for line in lines)
    )
    return checks


def _parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Command line: ``example_service.py URL LOG``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL of the running service")
    parser.add_argument("log", type=Path, help="file the service writes its stdout and stderr to")
    args = parser.parse_args(argv)
    checks = run_checks(args.url.rstrip("/"), args.log)
    print(
        f"example service: {'FAILED: ' + ', '.join(checks.failed) if checks.failed else 'all checks passed'}"
    )
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
