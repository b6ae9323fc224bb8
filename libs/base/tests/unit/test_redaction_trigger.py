"""The fast path of ``redact_text``: the trigger search (same matches as the flat list) and its memo."""

from __future__ import annotations

import random
import re

import pytest

from internal_base import _redaction
from internal_base._secret_text import TRIGGER
from internal_base.redaction import redact_text, register_secret_key

# The trigger as first written: one flat alternation. The trie form must match the same texts.
_FLAT = re.compile(
    r"://|%3a%2f%2f|bearer|basic|eyj|akia|asia|pass|pwd|secret|token|credential|auth|cookie|sig"
    r"|private key|identified|gh[pousr]_|github_pat_|glpat-|xox[abeprs]-|k_live_"
    r"|(?:api|access|private|priv|hmac|signing|encryption|account|subscription|master|session)[^a-z0-9]{0,3}key"
    r"|session[^a-z0-9]{0,3}id"
)
_WORDS = [
    "://", "%3a%2f%2f", "bearer", "basic", "eyj", "akia", "asia", "pass", "pwd", "secret", "token",
    "credential", "auth", "cookie", "sig", "private key", "private_key", "privkey", "priv-key",
    "identified", "ghp_", "ghx_", "github_pat_", "glpat-", "xoxb-", "xoxz-", "k_live_", "api_key",
    "api--key", "api----key", "access key", "account.key", "encryption key", "signing key",
    "session id", "session__id", "sessionkey", "hmac.key", "subscription key", "master_key",
    "mastkey", "sessio", "/orders", "order o-1 done",
]  # fmt: skip
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789:/%_- ."


def _texts(count: int) -> list[str]:
    """Deterministic texts made of trigger words (some with a letter dropped) and random runs."""
    rng = random.Random(13)
    texts = list(_WORDS)
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.4:
                word = rng.choice(_WORDS)
            else:
                word = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 6)))
            if word and rng.random() < 0.3:
                cut = rng.randrange(len(word))
                word = word[:cut] + word[cut + 1 :]
            parts.append(word)
        texts.append("".join(parts))
    return texts


def test_trie_trigger_matches_exactly_what_the_flat_alternation_matches() -> None:
    """Over 60,000 texts near the trigger words, both forms agree on every one."""
    texts = _texts(60_000)
    disagree = [text for text in texts if (TRIGGER.search(text) is None) != (_FLAT.search(text) is None)]
    assert disagree == []
    assert sum(TRIGGER.search(text) is not None for text in _WORDS) >= 30  # the corpus does trigger


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("signing-key=abc123", "abc123"),
        ("private_key: hunter22", "hunter22"),
        ("session_id=s3ss10n", "s3ss10n"),
        ("x-amz-security-token=tok123", "tok123"),
        ("Encryption-Key = k3y-value", "k3y-value"),
    ],
)
def test_compound_names_are_still_masked(text: str, secret: str) -> None:
    """Names reached only through the trie's nested branches still mask their values."""
    assert secret not in redact_text(text)


def test_a_remembered_clean_text_is_masked_once_its_name_is_registered() -> None:
    """The memo of trigger-free texts never hides a name registered later."""
    text = "zqxwidgetcode=abc123"
    assert redact_text(text) is text  # searched, no trigger: remembered
    assert text in _redaction._UNTRIGGERED
    register_secret_key("zqxwidgetcode")
    assert redact_text(text) == "zqxwidgetcode=***"


def test_the_memo_stays_bounded_and_skips_long_texts() -> None:
    """Past its limit the memo is emptied; texts longer than 256 characters are never kept."""
    for index in range(_redaction._UNTRIGGERED_MAX + 10):
        redact_text(f"plain text number {index}")
    assert len(_redaction._UNTRIGGERED) <= _redaction._UNTRIGGERED_MAX
    long_text = "x" * 300
    assert redact_text(long_text) is long_text
    assert long_text not in _redaction._UNTRIGGERED


class _Sneaky(str):
    """A str whose hash and equality also claim to be one remembered clean text."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other) or other == "plain text number 1"

    def __hash__(self) -> int:
        return hash("plain text number 1")


def test_a_str_subclass_cannot_pass_as_a_remembered_text() -> None:
    """Only exact ``str`` texts use the memo, so an equality-lying subclass is still searched."""
    redact_text("plain text number 1")
    assert "hunter22" not in redact_text(_Sneaky("password=hunter22"))
