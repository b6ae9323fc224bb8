"""Settings of the database engine (env prefix ``COMMONS_RDBMS_``, YAML section ``rdbms``)."""

from __future__ import annotations

from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from internal_base.cursor import MIN_SECRET_BYTES
from internal_base.redaction import redact_url
from internal_base.resilience import ResilienceSettings
from internal_base.settings import LibrarySettings

__all__ = ["RdbmsSettings", "normalize_url"]

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
    pool_size: int = Field(default=5, ge=1, description="Connections kept open in the pool.")
    max_overflow: int = Field(default=10, ge=0, description="Extra connections beyond pool_size.")
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
    def backend(self) -> str:
        """``"postgresql"``, ``"mysql"`` (also MariaDB) or ``"sqlite"``."""
        scheme = urlsplit(self.url.get_secret_value()).scheme.split("+", 1)[0]
        return "mysql" if scheme == "mariadb" else scheme

    @property
    def is_memory_sqlite(self) -> bool:
        """Whether the URL is an in-memory SQLite database (one shared connection, no pool)."""
        if self.backend != "sqlite":
            return False
        path = self.url.get_secret_value().split("://", 1)[1]
        return path in ("", "/", "/:memory:") or "mode=memory" in path

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
