from __future__ import annotations

import os
import re

import pytest

from internal_testing import _names

DNS_SAFE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def test_unique_name_is_dns_safe_short_and_readable() -> None:
    name = _names.unique_name("Test_Upload[Big File]")
    assert DNS_SAFE.match(name), name
    assert len(name) <= 40
    assert name.startswith(f"t-{_names.process_token()}-")
    assert "test-upload-big-file" in name


def test_unique_names_never_repeat() -> None:
    names = {_names.unique_name("same") for _ in range(500)}
    assert len(names) == 500


def test_unique_name_truncates_long_hints_without_trailing_hyphen() -> None:
    name = _names.unique_name("a" * 30 + "-" + "b" * 30, max_length=41)
    assert len(name) <= 41
    assert not name.endswith("-")
    assert DNS_SAFE.match(name)


def test_unique_name_without_hint() -> None:
    assert re.fullmatch(rf"t-{_names.process_token()}-\d+", _names.unique_name())


def test_unique_name_rejects_tiny_limits() -> None:
    with pytest.raises(ValueError, match="at least 24"):
        _names.unique_name(max_length=10)


def test_unique_name_fixture_includes_test_name(unique_name: str) -> None:
    assert "test-unique-name-fixture" in unique_name
    assert DNS_SAFE.match(unique_name)


def test_redis_key_prefix_uses_the_pants_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_names.SLOT_ENV_VAR, "3")
    assert _names.redis_key_prefix() == f"t:3:{_names.process_token()}:"


def test_redis_key_prefix_falls_back_to_the_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_names.SLOT_ENV_VAR, raising=False)
    assert _names.redis_key_prefix() == f"t:{os.getpid()}:{_names.process_token()}:"


def test_redis_key_prefix_fixture(redis_key_prefix: str) -> None:
    assert re.fullmatch(r"t:[a-z0-9]+:[0-9a-f]{8}:", redis_key_prefix)


def test_database_names_are_plain_identifiers() -> None:
    first, second = _names.database_name(), _names.database_name()
    assert first != second
    assert re.fullmatch(rf"t_{os.getpid()}_[0-9a-f]{{8}}", first)
