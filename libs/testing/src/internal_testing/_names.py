"""Per-process and per-test names that keep parallel test runs apart."""

from __future__ import annotations

import itertools
import os
import re
import secrets

__all__ = [
    "SLOT_ENV_VAR",
    "database_name",
    "execution_slot",
    "process_token",
    "redis_key_prefix",
    "unique_name",
]

SLOT_ENV_VAR = "COMMONS_TEST_SLOT"
"""Pants sets this variable (``[pytest] execution_slot_var``) to the slot of each concurrent test process."""

MAX_NAME_LENGTH = 40

_PROCESS_TOKEN = secrets.token_hex(4)
_COUNTER = itertools.count(1)
_UNSAFE = re.compile(r"[^a-z0-9]+")


def process_token() -> str:
    """A random hex token, fixed for the life of this process (8 characters)."""
    return _PROCESS_TOKEN


def execution_slot() -> str:
    """The Pants execution slot of this process, or its pid when Pants did not set one."""
    slot = _UNSAFE.sub("", os.environ.get(SLOT_ENV_VAR, "").lower())
    return slot or str(os.getpid())


def redis_key_prefix() -> str:
    """The Redis key prefix of this test process: ``t:<slot>:<hex>:``."""
    return f"t:{execution_slot()}:{process_token()}:"


def database_name() -> str:
    """A fresh database name for this test process: ``t_<pid>_<hex>`` (a plain SQL identifier)."""
    return f"t_{os.getpid()}_{secrets.token_hex(4)}"


def unique_name(hint: str = "", *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A name unique to this process and call, safe for S3 buckets, SQS queues and DynamoDB tables.

    The result is lowercase ``[a-z0-9-]``, starts with a letter, does not end with a hyphen, and is
    at most ``max_length`` characters long (DNS-safe, hence a valid bucket name).

    Args:
        hint: Readable text to include (for instance the test name); it is shortened to fit.
        max_length: Upper bound on the length, at least 24.

    Returns:
        A name like ``t-1a2b3c4d-7-test-upload``.

    Raises:
        ValueError: If ``max_length`` is below 24.
    """
    if max_length < 24:
        raise ValueError(f"max_length must be at least 24, got {max_length}")
    head = f"t-{process_token()}-{next(_COUNTER)}"
    slug = _UNSAFE.sub("-", hint.lower()).strip("-")
    name = f"{head}-{slug}" if slug else head
    return name[:max_length].rstrip("-")
