"""OpenTelemetry for ``internal_rdbms``: statement spans and connection-pool metrics, off by default.

Example::

    from internal_base.telemetry import configure_telemetry
    from internal_rdbms import telemetry

    configure_telemetry(service_name="orders", exporter="otlp")
    telemetry.instrument()    # every Database's engines, existing and future
    ...
    telemetry.uninstrument()
"""

from __future__ import annotations

from internal_rdbms._telemetry import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]
