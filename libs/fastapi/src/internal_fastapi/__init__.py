"""internal_fastapi: FastAPI middleware, problem+json errors, pagination, dependencies and health.

``install(app)`` wires everything in the right order::

    from fastapi import FastAPI
    from internal_fastapi import install

    app = FastAPI()
    install(app)   # correlation IDs, access log, RFC 9457 errors, /health/live, /health/ready

The public modules are ``config``, ``errors``, ``middleware``, ``responses``, ``pagination``,
``dependencies`` and ``server`` (this root re-exports them), and ``telemetry`` (server spans and
metrics, not re-exported: ``internal_fastapi.telemetry.instrument()``). The database, cache,
HTTP-client and SQS integrations are in ``internal_fastapi.extensions.{rdbms,cache,http,aws}``
(extras of the same names); this package never imports them. Nothing runs at import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_fastapi._admission import Admission
from internal_fastapi._config import (
    FastAPISettings,
)
from internal_fastapi._dependencies import (
    BearerAuth,
    StaticTokenVerifier,
    TokenVerifier,
    bearer_token,
    settings_dependency,
)
from internal_fastapi._errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ErrorMapper,
    ErrorRule,
    ForbiddenError,
    NotFoundError,
    OverloadedError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    default_error_mapper,
    error_mapper,
    install_exception_handlers,
    problem_response,
    retry_after_header,
)
from internal_fastapi._health import (
    HealthDetails,
    health_router,
)
from internal_fastapi._install import (
    install,
)
from internal_fastapi._middleware import (
    CorrelationIdMiddleware,
    ErrorHandlingMiddleware,
    RequestLoggingMiddleware,
    is_valid_id,
)
from internal_fastapi._pagination import (
    CursorCodec,
    CursorParams,
    InvalidCursorError,
    OffsetParams,
    PageParams,
    cursor_pagination,
    offset_pagination,
    page_pagination,
)
from internal_fastapi._responses import (
    PROBLEM_CONTENT_TYPE,
    ApiResponse,
    CursorPageResponse,
    FieldError,
    OffsetPageResponse,
    PageResponse,
    ProblemDetail,
    ValidationProblemDetail,
)
from internal_fastapi._server import (
    run,
    uvicorn_log_config,
)
from internal_fastapi._stack import (
    CommonsMiddleware,
)

__all__ = [
    "Admission",
    "ApiError",
    "ApiResponse",
    "BadRequestError",
    "BearerAuth",
    "CommonsMiddleware",
    "ConflictError",
    "CorrelationIdMiddleware",
    "CursorCodec",
    "CursorPageResponse",
    "CursorParams",
    "ErrorHandlingMiddleware",
    "ErrorMapper",
    "ErrorRule",
    "FastAPISettings",
    "FieldError",
    "ForbiddenError",
    "HealthDetails",
    "InvalidCursorError",
    "NotFoundError",
    "OffsetPageResponse",
    "OffsetParams",
    "OverloadedError",
    "PROBLEM_CONTENT_TYPE",
    "PageParams",
    "PageResponse",
    "ProblemDetail",
    "RequestLoggingMiddleware",
    "ServiceUnavailableError",
    "StaticTokenVerifier",
    "TokenVerifier",
    "TooManyRequestsError",
    "UnauthorizedError",
    "ValidationProblemDetail",
    "__version__",
    "bearer_token",
    "cursor_pagination",
    "default_error_mapper",
    "error_mapper",
    "health_router",
    "install",
    "install_exception_handlers",
    "is_valid_id",
    "offset_pagination",
    "page_pagination",
    "problem_response",
    "retry_after_header",
    "run",
    "settings_dependency",
    "uvicorn_log_config",
]

try:
    __version__ = version("internal-fastapi")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"
