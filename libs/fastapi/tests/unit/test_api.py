"""The public API: public modules and ``__all__``, version, settings and the extensions boundary."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import internal_fastapi
from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_testing.public_api import assert_public_api


@pytest.mark.parametrize(
    "module",
    [
        "internal_fastapi",
        "internal_fastapi.config",
        "internal_fastapi.dependencies",
        "internal_fastapi.errors",
        "internal_fastapi.middleware",
        "internal_fastapi.pagination",
        "internal_fastapi.responses",
        "internal_fastapi.server",
        "internal_fastapi.telemetry",
        "internal_fastapi.extensions.aws",
        "internal_fastapi.extensions.cache",
        "internal_fastapi.extensions.http",
        "internal_fastapi.extensions.rdbms",
    ],
)
def test_public_api(module: str) -> None:
    """Each public module has a sorted, complete ``__all__`` of documented names."""
    assert_public_api(module)


@pytest.mark.parametrize(
    "module", ["config", "dependencies", "errors", "middleware", "pagination", "responses", "server"]
)
def test_the_root_re_exports_every_public_module(module: str) -> None:
    """Every name of a public module is also importable from the package root."""
    names = importlib.import_module(f"internal_fastapi.{module}").__all__
    assert [name for name in names if getattr(internal_fastapi, name, None) is None] == []


def test_root_never_imports_the_extensions() -> None:
    """Importing the package loads neither the extensions, the sibling libraries nor httpx."""
    code = (
        "import sys, internal_fastapi; "
        "print(sorted(m for m in sys.modules if m.startswith(('internal_rdbms', 'internal_cache', "
        "'internal_http', 'internal_aws', 'internal_fastapi.extensions', 'sqlalchemy', 'redis', "
        "'httpx', 'aioboto3', 'botocore'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_read_the_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_FASTAPI_*`` variables configure the settings; the YAML section is ``fastapi``."""
    monkeypatch.setenv("COMMONS_FASTAPI_HEALTH_PREFIX", "/_probe")
    monkeypatch.setenv("COMMONS_FASTAPI_LOG_REQUESTS", "false")
    settings = FastAPISettings.load()
    assert (settings.health_prefix, settings.log_requests) == ("/_probe", False)
    assert FastAPISettings.yaml_section == "fastapi"


def test_settings_reject_a_bad_health_prefix() -> None:
    """A prefix without a leading slash is a configuration error naming the field."""
    with pytest.raises(ConfigurationError, match="health_prefix"):
        FastAPISettings.load(health_prefix="health/")


def test_install_twice_is_an_error() -> None:
    """A second ``install`` would stack the middleware twice, so it is refused."""
    app = FastAPI()
    install(app, FastAPISettings())
    with pytest.raises(ConfigurationError, match="already called"):
        install(app, FastAPISettings())


async def test_install_can_skip_health_and_logging() -> None:
    """With health and request logging disabled, neither is wired."""
    app = FastAPI()
    install(app, FastAPISettings(health_enabled=False, log_requests=False))
    assert await _status(app, "/health/live") == 404
    assert not any("RequestLogging" in repr(m.cls) for m in app.user_middleware)


@pytest.mark.parametrize(
    ("extension", "library", "extra"),
    [
        ("cache", "internal_cache", "cache"),
        ("rdbms", "internal_rdbms", "rdbms"),
        ("http", "internal_http", "http"),
        ("aws", "internal_aws", "aws"),
    ],
)
def test_an_extension_without_its_library_names_the_extra(extension: str, library: str, extra: str) -> None:
    """Importing an extension whose library is not installed is an ImportError naming the pip extra."""
    code = (
        f"import sys; sys.modules[{library!r}] = None\n"  # what Python does for a missing package
        "try:\n"
        f"    import internal_fastapi.extensions.{extension}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"pip install 'internal-fastapi[{extra}]'" in out.stdout


async def _status(app: FastAPI, path: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return (await client.get(path)).status_code


async def test_install_reads_the_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With only COMMONS_CONFIG_FILE set, ``install()`` takes its settings from the file's ``fastapi:``."""
    config = tmp_path / "service.yaml"
    config.write_text("fastapi:\n  health_prefix: /_probe\n  log_requests: false\n")
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    app = FastAPI()
    install(app, health_registry=HealthRegistry())
    assert (await _status(app, "/_probe/live"), await _status(app, "/health/live")) == (200, 404)
    assert app.state.commons_settings.log_requests is False
