"""The redaction trigger (the cheap first search of ``redact_text``) accepts what the flat list does."""

from __future__ import annotations

import random
import re

import pytest

from internal_base._secret_text import TRIGGER
from internal_base.redaction import redact_text

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
