"""Settings of the database engine (env prefix ``COMMONS_RDBMS_``, YAML section ``rdbms``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from internal_base.cursor import MIN_SECRET_BYTES
from internal_base.redaction import redact_url
from internal_base.resilience import ResilienceSettings
from internal_base.settings import LibrarySettings

__all__ = ["RdbmsSettings", "backend_of", "check_replica_urls", "is_memory_sqlite_url", "normalize_url"]

#: Plain schemes rewritten to their async driver.
_DEFAULT_DRIVERS: Final = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}
#: Schemes with an asyncio driver that ``create_async_engine`` accepts.
_ASYNC_SCHEMES: Final = frozenset(
    {
        "postgresql+asyncpg",
        "postgresql+psycopg",
        "mysql+aiomysql",
        "mysql+asyncmy",
        "mariadb+aiomysql",
        "mariadb+asyncmy",
        "sqlite+aiosqlite",
    }
)


def normalize_url(url: str) -> str:
    """Rewrite a plain database URL to its asyncio driver.

    ``postgresql://`` / ``postgres://`` → ``postgresql+asyncpg://``, ``mysql://`` / ``mariadb://`` →
    ``mysql+aiomysql://``, ``sqlite://`` → ``sqlite+aiosqlite://``; URLs naming an async driver are kept.

    Args:
        url: A database URL, possibly with a password.

    Returns:
        The URL with an async driver.

    Raises:
        ValueError: Unknown scheme or a synchronous driver; the message shows the URL redacted.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"database url must look like scheme://..., got {redact_url(url)!r}")
    lowered = scheme.lower()
    if not lowered.startswith("sqlite"):  # an SQLite URL is a path, where "@" is just a character
        rest = _encode_userinfo_at(rest)
    if lowered in _DEFAULT_DRIVERS:
        return f"{_DEFAULT_DRIVERS[lowered]}://{rest}"
    if lowered in _ASYNC_SCHEMES:
        return f"{lowered}://{rest}"
    allowed = ", ".join(sorted({*_DEFAULT_DRIVERS, *_ASYNC_SCHEMES}))
    raise ValueError(
        f"database url scheme {scheme!r} is not supported (use one of: {allowed}); url {redact_url(url)!r}"
    )


def _encode_userinfo_at(rest: str) -> str:
    """Percent-encode each ``@`` of the userinfo but the last, the one before the host.

    SQLAlchemy ends the password at its first ``@`` (``app:p@ss@db`` would be password ``p`` on host
    ``ss@db``: no connection, and the rest of the password in every message naming the host);
    ``urllib`` and the redaction policy end it at the last ``@`` before the host. That is the last
    ``@`` before the first ``/``, ``?`` or ``#`` after the first ``@`` (a password may hold ``/``,
    a database name after the host may hold ``@``).
    """
    first_at = rest.find("@")
    if first_at == -1:
        return rest
    ends = [found for mark in "/?#" if (found := rest.find(mark, first_at)) != -1]
    last_at = rest.rfind("@", 0, min(ends, default=len(rest)))
    userinfo = rest[:last_at]
    if "@" not in userinfo:
        return rest
    return userinfo.replace("@", "%40") + rest[last_at:]


def backend_of(url: str) -> str:
    """``"postgresql"``, ``"mysql"`` (also MariaDB) or ``"sqlite"`` for a normalised URL."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    return "mysql" if scheme == "mariadb" else scheme


def is_memory_sqlite_url(url: str) -> bool:
    """Whether a normalised URL is an in-memory SQLite database."""
    if backend_of(url) != "sqlite":
        return False
    path = url.split("://", 1)[1]
    return path in ("", "/", "/:memory:") or "mode=memory" in path


def check_replica_urls(backend: str, replica_urls: list[SecretStr]) -> None:
    """Check that every (normalised) replica URL uses ``backend`` and is not in-memory SQLite.

    Raises:
        ValueError: Naming the replica (redacted) and what is wrong with it.
    """
    for index, replica in enumerate(replica_urls):
        url = replica.get_secret_value()
        if backend_of(url) != backend:
            raise ValueError(
                f"replica_urls[{index}] ({redact_url(url)!r}) is a {backend_of(url)} URL but url is "
                f"{backend}: replicas must use the primary's backend"
            )
        if is_memory_sqlite_url(url):
            raise ValueError(f"replica_urls[{index}] is an in-memory SQLite database: it holds no data")


class RdbmsSettings(LibrarySettings):
    """Connection, pool, health and resilience settings of a :class:`~internal_rdbms.Database`.

    The URL is a :class:`~pydantic.SecretStr` normalised to an async driver; reprs, logs and
    errors only show :attr:`redacted_url`. Pool settings are ignored for in-memory SQLite, which
    uses a single shared connection.
    """

    model_config = SettingsConfigDict(env_prefix="COMMONS_RDBMS_", hide_input_in_errors=True)
    yaml_section: ClassVar[str] = "rdbms"

    url: SecretStr = Field(
        default=SecretStr("sqlite+aiosqlite:///:memory:"),
        description="postgresql://, mysql://, mariadb:// or sqlite:// URL (async driver added).",
    )
    echo: bool = Field(default=False, description="Log every statement (parameters stay hidden).")
    pool_size: int = Field(
        default=10, ge=1, description="Connections kept open in the pool (also the most used at once)."
    )
    max_overflow: int = Field(
        default=0,
        ge=0,
        description=(
            "Extra connections beyond pool_size, opened under load and closed again on return "
            "(connection churn: a warning is logged when > 0; raise pool_size instead)."
        ),
    )
    pool_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to wait for a free connection before RdbmsUnavailableError (fail fast: a 503).",
    )
    pool_pre_ping: bool = Field(default=True, description="Test a connection before handing it out.")
    pool_recycle: float = Field(
        default=1800.0, description="Replace connections older than this many seconds (-1 = never)."
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to establish a connection.")
    hide_parameters: bool = Field(
        default=True, description="Keep bound parameters out of logs and error messages."
    )
    expire_on_commit: bool = Field(
        default=False, description="Expire ORM objects after commit (False suits async code)."
    )
    cursor_secret: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC key (16+ bytes) signing keyset cursors; unset: a random per-process key, so cursors "
            "stop working after a restart and across worker processes."
        ),
    )
    health_check: bool = Field(
        default=True, description="Register a readiness check (False: register nothing anywhere)."
    )
    health_check_name: str = Field(default="rdbms", min_length=1, description="Name in the health registry.")
    health_check_timeout: float = Field(default=2.0, gt=0, description="Seconds before the check fails.")

    replica_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "Read replicas (same backend as url) for read-only units of work; a JSON list or "
            "comma-separated URLs in the environment."
        ),
    )
    replica_max_lag: float = Field(
        default=5.0, gt=0, description="Seconds a replica may lag before reads fall back to the primary."
    )
    replica_check_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two lag/liveness probes of a replica (a down one is retried after it).",
    )

    resilience: ResilienceSettings = Field(
        default_factory=ResilienceSettings,
        description=(
            "Retries, breaker and per-attempt timeout of Database.run (deadlocks, serialization "
            "failures, unavailable database); nothing else is retried."
        ),
    )

    @field_validator("url")
    @classmethod
    def _normalize(cls, value: SecretStr) -> SecretStr:
        return SecretStr(normalize_url(value.get_secret_value()))

    @field_validator("replica_urls", mode="before")
    @classmethod
    def _split_replicas(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("replica_urls")
    @classmethod
    def _normalize_replicas(cls, value: list[SecretStr]) -> list[SecretStr]:
        return [SecretStr(normalize_url(url.get_secret_value())) for url in value]

    @model_validator(mode="after")
    def _check_replicas(self) -> RdbmsSettings:
        check_replica_urls(self.backend, self.replica_urls)
        return self

    @field_validator("cursor_secret")
    @classmethod
    def _check_cursor_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"cursor_secret must be at least {MIN_SECRET_BYTES} bytes long")
        return value

    @field_validator("pool_recycle")
    @classmethod
    def _check_recycle(cls, value: float) -> float:
        if value <= 0 and value != -1:
            raise ValueError("pool_recycle must be positive, or -1 to disable recycling")
        return value

    @property
    def redacted_url(self) -> str:
        """The URL with its password (and secret query values) masked."""
        return redact_url(self.url.get_secret_value())

    @property
    def redacted_replica_urls(self) -> list[str]:
        """The replica URLs with their passwords masked."""
        return [redact_url(url.get_secret_value()) for url in self.replica_urls]

    @property
    def backend(self) -> str:
        """``"postgresql"``, ``"mysql"`` (also MariaDB) or ``"sqlite"``."""
        return backend_of(self.url.get_secret_value())

    @property
    def is_memory_sqlite(self) -> bool:
        """Whether the URL is an in-memory SQLite database (one shared connection, no pool)."""
        return is_memory_sqlite_url(self.url.get_secret_value())

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`sqlalchemy.ext.asyncio.create_async_engine` (URL excluded)."""
        options: dict[str, Any] = {
            "echo": self.echo,
            "hide_parameters": self.hide_parameters,
            "pool_pre_ping": self.pool_pre_ping,
        }
        backend = self.backend
        if self.url.get_secret_value().startswith("postgresql+asyncpg:"):
            options["connect_args"] = {"timeout": self.connect_timeout}
        elif backend in ("postgresql", "mysql"):  # psycopg, aiomysql, asyncmy: whole seconds
            options["connect_args"] = {"connect_timeout": max(1, round(self.connect_timeout))}
        else:
            options["connect_args"] = {"timeout": self.connect_timeout}  # SQLite busy timeout
        if not self.is_memory_sqlite:
            options.update(
                pool_size=self.pool_size,
                max_overflow=self.max_overflow,
                pool_timeout=self.pool_timeout,
                pool_recycle=self.pool_recycle,
            )
        return options
