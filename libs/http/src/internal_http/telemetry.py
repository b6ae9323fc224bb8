"""Telemetry: client spans and the ``http.client.request.duration`` metric, off until ``instrument()``.

After :func:`instrument`, every call of a client made by ``create_client`` (one ``send``: its
retries, redirect hops and auth round trips) is one OpenTelemetry CLIENT span following the
stable HTTP semantic conventions, with one ``internal_http.attempt`` event per physical attempt,
and one ``http.client.request.duration`` measurement (seconds). The ``traceparent`` sent carries
the CLIENT span's id, so the server's span is its child. :func:`uninstrument` turns it off again.
"""

from __future__ import annotations

from ._telemetry import ATTEMPT_EVENT, DURATION_METRIC, instrument, is_instrumented, uninstrument

__all__ = ["ATTEMPT_EVENT", "DURATION_METRIC", "instrument", "is_instrumented", "uninstrument"]
