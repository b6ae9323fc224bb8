"""Tests for the signed, purpose-bound cursor codec."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import pickle
import subprocess
import sys
import textwrap

import pytest
from pydantic import SecretStr

from internal_base.cursor import CursorCodec, InvalidCursorError
from internal_base.errors import CommonsError, ConfigurationError

SECRET = "0123456789abcdef-cursor-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(payload: bytes, purpose: str, key: bytes = SECRET.encode()) -> str:
    """A token built by hand with the documented format (a valid signature over any bytes)."""
    message = b"v1:%d:%s:%s" % (len(purpose.encode()), purpose.encode(), payload)
    return f"{_b64(payload)}.{_b64(hmac.new(key, message, hashlib.sha256).digest()[:16])}"


def test_round_trip() -> None:
    """A token decodes, for the same purpose, to the payload it was made from."""
    codec = CursorCodec(SECRET)
    token = codec.encode({"id": 42, "name": "ä", "at": None}, purpose="orders")
    assert codec.decode(token, purpose="orders") == {"id": 42, "name": "ä", "at": None}


def test_token_is_url_safe() -> None:
    """Tokens contain only base64url characters and one dot."""
    token = CursorCodec(SECRET).encode({"q": "?&/+= \n"}, purpose="p")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_other_purpose_is_rejected() -> None:
    """A token issued for one purpose is refused for another."""
    codec = CursorCodec(SECRET)
    token = codec.encode({"id": 1}, purpose="/numbers")
    with pytest.raises(InvalidCursorError, match="not a cursor issued"):
        codec.decode(token, purpose="/letters")


def test_purpose_boundary_is_unambiguous() -> None:
    """Moving bytes between purpose and payload does not keep a signature valid."""
    codec = CursorCodec(SECRET)
    token = codec.encode({}, purpose="a")
    with pytest.raises(InvalidCursorError):
        codec.decode(token, purpose="a:{")


def test_other_key_is_rejected() -> None:
    """A token signed with another secret is refused."""
    token = CursorCodec(SECRET).encode({"id": 1}, purpose="p")
    with pytest.raises(InvalidCursorError):
        CursorCodec(SECRET + "-other").decode(token, purpose="p")


def test_edited_payload_is_rejected() -> None:
    """Changing the payload part of a token invalidates it."""
    codec = CursorCodec(SECRET)
    token = codec.encode({"id": 1}, purpose="p")
    _, tag = token.split(".")
    with pytest.raises(InvalidCursorError):
        codec.decode(_b64(b'{"id":2}') + "." + tag, purpose="p")


@pytest.mark.parametrize("garbage", ["", ".", "abc", "a.b.c", "!!!.???", "ä.ö", "e30.", ".AAAA"])
def test_malformed_is_rejected(garbage: str) -> None:
    """Malformed tokens raise InvalidCursorError, never another exception."""
    with pytest.raises(InvalidCursorError):
        CursorCodec(SECRET).decode(garbage, purpose="p")


def test_non_canonical_base64_is_rejected() -> None:
    """A token with non-canonical trailing bits is refused although it decodes to the same bytes."""
    codec = CursorCodec(SECRET)
    body, tag = codec.encode({"id": 1}, purpose="p").split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variant = tag[:-1] + alphabet[alphabet.index(tag[-1]) ^ 1]  # flips a padding bit of 16 bytes
    assert base64.urlsafe_b64decode(variant + "==") == base64.urlsafe_b64decode(tag + "==")
    with pytest.raises(InvalidCursorError):
        codec.decode(f"{body}.{variant}", purpose="p")


def test_non_string_token_is_rejected() -> None:
    """A token that is not a string is an InvalidCursorError."""
    with pytest.raises(InvalidCursorError, match="not a string"):
        CursorCodec(SECRET).decode(b"abc.def", purpose="p")  # type: ignore[arg-type]


def test_too_long_token_is_rejected() -> None:
    """Tokens longer than max_length are refused before any decoding."""
    with pytest.raises(InvalidCursorError, match="longer than 64"):
        CursorCodec(SECRET, max_length=64).decode("A" * 65, purpose="p")


def test_encode_refuses_a_token_it_could_not_decode() -> None:
    """encode raises instead of issuing a token longer than max_length."""
    with pytest.raises(ValueError, match="longer than max_length=64"):
        CursorCodec(SECRET, max_length=64).encode({"name": "x" * 100}, purpose="p")


@pytest.mark.parametrize("payload", [b"[1,2]", b'"text"', b"not json", b"[" * 100_000])
def test_signed_non_object_is_unreadable(payload: bytes) -> None:
    """A validly signed payload that is not a JSON object is refused as unreadable."""
    with pytest.raises(InvalidCursorError, match="unreadable"):
        CursorCodec(SECRET, max_length=1_000_000).decode(_forge(payload, "p"), purpose="p")


def test_non_finite_floats_round_trip() -> None:
    """±inf and NaN survive a round trip."""
    codec = CursorCodec(SECRET)
    out = codec.decode(codec.encode({"a": math.inf, "b": -math.inf, "c": math.nan}, purpose="p"), purpose="p")
    assert (out["a"], out["b"], math.isnan(out["c"])) == (math.inf, -math.inf, True)


def test_unserialisable_payload_is_type_error() -> None:
    """A payload value JSON cannot represent is a TypeError at encode."""
    with pytest.raises(TypeError):
        CursorCodec(SECRET).encode({"x": object()}, purpose="p")


def test_purpose_must_be_a_string() -> None:
    """A non-string purpose is a TypeError, not a silently different binding."""
    with pytest.raises(TypeError, match="purpose"):
        CursorCodec(SECRET).encode({}, purpose=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", "short", b"15-bytes-secret", SecretStr("x" * 15)])
def test_short_secret_is_configuration_error(secret: str | bytes | SecretStr) -> None:
    """Secrets shorter than 16 bytes are refused."""
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        CursorCodec(secret)


def test_secret_of_wrong_type_is_configuration_error() -> None:
    """A secret that is not str/bytes/SecretStr is a ConfigurationError naming the type."""
    with pytest.raises(ConfigurationError, match="int"):
        CursorCodec(1234567890123456789)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_length", [0, 31, True, "2048"])
def test_bad_max_length_is_configuration_error(max_length: object) -> None:
    """max_length must be an integer of at least 32."""
    with pytest.raises(ConfigurationError, match="max_length"):
        CursorCodec(SECRET, max_length=max_length)  # type: ignore[arg-type]


def test_secret_str_equals_plain_secret() -> None:
    """A SecretStr secret signs exactly like the same plain string."""
    token = CursorCodec(SecretStr(SECRET)).encode({"id": 1}, purpose="p")
    assert CursorCodec(SECRET).decode(token, purpose="p") == {"id": 1}


def test_secret_never_in_repr() -> None:
    """repr shows whether a secret is configured, never the secret."""
    text = repr(CursorCodec(SECRET))
    assert SECRET not in text
    assert text == "CursorCodec(secret=<configured>, max_length=2048)"


def test_codec_refuses_pickling() -> None:
    """Pickling, which would copy the key elsewhere, is refused."""
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(CursorCodec(SECRET))


def test_copies_are_the_same_codec() -> None:
    """copy and deepcopy (e.g. of a dataclass holding a codec) return the codec itself."""
    codec = CursorCodec(SECRET)
    assert (copy.copy(codec) is codec, copy.deepcopy({"c": codec})["c"] is codec) == (True, True)


def test_unkeyed_codecs_in_one_process_agree() -> None:
    """Two codecs without a secret in one process accept each other's cursors."""
    token = CursorCodec().encode({"id": 7}, purpose="p")
    assert (CursorCodec().decode(token, purpose="p"), CursorCodec().ephemeral) == ({"id": 7}, True)


def test_decode_purpose_must_be_a_string() -> None:
    """decode with a non-string purpose is a TypeError."""
    with pytest.raises(TypeError, match="purpose"):
        CursorCodec(SECRET).decode("a.b", purpose=b"p")  # type: ignore[arg-type]


def test_error_is_commons_and_value_error() -> None:
    """InvalidCursorError is caught as CommonsError and as ValueError."""
    assert issubclass(InvalidCursorError, CommonsError)
    assert issubclass(InvalidCursorError, ValueError)


_EPHEMERAL_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    from internal_base.cursor import CursorCodec, InvalidCursorError
    first, second = CursorCodec(), CursorCodec()
    token = first.encode({"id": 1}, purpose="p")
    same_process = second.decode(token, purpose="p")
    foreign = sys.stdin.read().strip()
    if foreign:
        try:
            second.decode(foreign, purpose="p")
            verdict = "accepted"
        except InvalidCursorError:
            verdict = "rejected"
    else:
        verdict = None
    out = {"token": token, "same": same_process, "ephemeral": first.ephemeral, "foreign": verdict}
    print(json.dumps(out))
    """
)


def _run_fresh_process(stdin: str = "") -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", _EPHEMERAL_SCRIPT],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout), done.stderr


def test_without_secret_key_is_per_process_and_warns_once() -> None:
    """Unkeyed codecs share one random key per process, announced by exactly one WARNING."""
    result, stderr = _run_fresh_process()
    warnings = [line for line in stderr.splitlines() if line.startswith("WARNING internal_base.cursor")]
    assert (result["same"], result["ephemeral"], len(warnings)) == ({"id": 1}, True, 1)
    assert "per-process key" in warnings[0]


def test_without_secret_cursor_does_not_survive_restart() -> None:
    """A cursor from one process is refused by a fresh process without a configured secret."""
    first, _ = _run_fresh_process()
    second, _ = _run_fresh_process(stdin=str(first["token"]))
    assert (second["foreign"], second["token"] != first["token"]) == ("rejected", True)
