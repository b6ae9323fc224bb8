"""Tests that every secret-bearing settings value is masked in ``repr`` and ``str``."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest
from pydantic import AnyUrl, BaseModel, Field, MySQLDsn, PostgresDsn, RedisDsn, SecretStr
from pydantic_settings import SettingsConfigDict

from internal_base.settings import LibrarySettings

SECRETS = [f"s3cr3t-{n}" for n in range(14)]


class Inner(BaseModel):
    """A nested plain pydantic model holding secrets."""

    password: str = SECRETS[0]
    dsn: PostgresDsn = PostgresDsn(f"postgresql://app:{SECRETS[1]}@db/app")
    note: str = "visible-note"


@dataclasses.dataclass
class Creds:
    """A dataclass value holding a secret."""

    user: str = "bob"
    token: str = SECRETS[2]


class ReprSettings(LibrarySettings):
    """Settings with secrets in every kind of field."""

    model_config = SettingsConfigDict(env_prefix="T_REPR_")
    yaml_section: ClassVar[str] = "repr"

    pg: PostgresDsn = PostgresDsn(f"postgresql://app:{SECRETS[3]}@db:5432/app")
    multi: PostgresDsn = PostgresDsn(f"postgresql://a:{SECRETS[4]}@h1:5432,b:{SECRETS[5]}@h2/db")
    redis: RedisDsn = RedisDsn(f"redis://:{SECRETS[6]}@cache:6379/0")
    mysql: MySQLDsn = MySQLDsn(f"mysql://root:{SECRETS[7]}@db/test")
    any_url: AnyUrl = AnyUrl(f"https://api.test/v1?api_key={SECRETS[8]}&page=2")
    replicas: list[PostgresDsn] = Field(
        default_factory=lambda: [PostgresDsn(f"postgresql://r:{SECRETS[9]}@r1/db")]
    )
    options: dict[str, str] = Field(default_factory=lambda: {"password": SECRETS[10], "host": "db.internal"})
    urls: tuple[str, ...] = (f"redis://:{SECRETS[11]}@h/0",)
    secret: SecretStr = SecretStr(SECRETS[12])
    inner: Inner = Inner()
    creds: Creds = dataclasses.field(default_factory=Creds)
    nested: dict[str, list[dict[str, str]]] = Field(
        default_factory=lambda: {"pools": [{"name": "main", "auth_token": SECRETS[13]}]}
    )


@pytest.mark.parametrize("render", [repr, str])
@pytest.mark.parametrize("secret", SECRETS)
def test_no_secret_in_repr_or_str(render: object, secret: str) -> None:
    """No secret of any field kind appears in the settings repr or str."""
    assert secret not in render(ReprSettings())  # type: ignore[operator]


def test_postgres_dsn_keeps_its_shape() -> None:
    """A PostgresDsn shows its type, user, host and database with the password masked."""
    assert "pg=PostgresDsn('postgresql://app:***@db:5432/app')" in repr(ReprSettings())


def test_multi_host_dsn_masks_every_password() -> None:
    """Every host of a multi-host DSN keeps its user and host, each password masked."""
    assert "PostgresDsn('postgresql://a:***@h1:5432,b:***@h2/db')" in repr(ReprSettings())


def test_secret_query_parameter_is_masked_and_others_kept() -> None:
    """A secret query parameter of a URL is masked; the other parameters stay."""
    text = repr(ReprSettings())
    assert "api_key=***&page=2" in text


def test_non_secret_values_stay_visible() -> None:
    """Values that are not secrets are shown as they are, at any depth."""
    text = repr(ReprSettings())
    assert ["'db.internal'" in text, "'visible-note'" in text, "user='bob'" in text, "'main'" in text] == [
        True
    ] * 4


def test_nested_settings_value_is_masked() -> None:
    """A settings object nested in another one is masked too."""

    class Outer(LibrarySettings):
        """Settings composed of another settings class."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_OUTER_")
        child: ReprSettings = Field(default_factory=ReprSettings)

    text = repr(Outer())
    assert [secret for secret in SECRETS if secret in text] == []


def test_sets_are_masked() -> None:
    """Secrets inside set and frozenset fields are masked."""

    class WithSets(LibrarySettings):
        """Settings with set fields."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_SETS_")
        seeds: frozenset[str] = frozenset({"redis://:pw-in-set@h/0"})
        empty: set[str] = Field(default_factory=set)

    assert repr(WithSets()) == "WithSets(seeds=frozenset({'redis://:***@h/0'}), empty=set())"


@pytest.mark.parametrize(
    "url",
    [
        "http://u:pw,with,commas@h/x",
        "http://u:p%40ss%3Bw,rd@h:81/x",
        "https://:only-pw@h/",
        "http://u:pw-v6@[::1]:80/",
    ],
)
def test_url_passwords_with_special_characters_are_masked(url: str) -> None:
    """URL passwords with commas, escapes, no user or an IPv6 host are masked in full."""

    class One(LibrarySettings):
        """Settings with one URL field."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_ONE_")
        url: AnyUrl

    text = repr(One(url=AnyUrl(url)))
    password = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    assert (password in text, "***@" in text) == (False, True)


def test_dsn_with_slash_in_password_in_a_plain_string_is_masked() -> None:
    """A DSN in a str field whose password holds ``/`` (SQLAlchemy accepts it) is masked."""

    class Raw(LibrarySettings):
        """Settings with a raw DSN string."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_RAW_")
        target: str = "postgresql://app:ab/xyz@host/db"

    assert "ab/xyz" not in repr(Raw())


class _Unprintable:
    """A value whose repr fails."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_value_whose_repr_fails_does_not_break_the_settings_repr() -> None:
    """A field value that cannot be printed is shown as a placeholder."""

    class Odd(LibrarySettings):
        """Settings with an arbitrary object."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_ODD_", arbitrary_types_allowed=True)
        thing: _Unprintable = Field(default_factory=_Unprintable)

    assert repr(Odd()) == "Odd(thing=<unprintable _Unprintable>)"


def test_deeply_nested_value_is_masked_whole() -> None:
    """Past the depth limit a value is masked whole (fail closed), never shown raw."""
    deep: object = "redis://:deep-secret@h/0"
    for _ in range(40):
        deep = [deep]

    class Deep(LibrarySettings):
        """Settings with a deeply nested list."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_DEEP_")
        nested: list[object] = Field(default_factory=lambda: [deep])

    text = repr(Deep())
    assert ("deep-secret" in text, "***" in text) == (False, True)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.test/callback#access_token=frag-secret-1",
        "https://app.test/files/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA/x",
    ],
)
def test_secrets_in_url_fragment_or_path_are_masked(url: str) -> None:
    """Secrets that sit in a URL's fragment or path (tokens, JWTs) are masked too."""

    class Callback(LibrarySettings):
        """Settings with URL fields."""

        model_config = SettingsConfigDict(env_prefix="T_REPR_CALLBACK_")
        raw: str
        parsed: AnyUrl

    text = repr(Callback(raw=url, parsed=AnyUrl(url)))
    assert [part for part in ("frag-secret-1", "c2lnbmF0dXJlLXNlY3JldA") if part in text] == []
