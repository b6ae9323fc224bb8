"""The judge of `.ci/decoy_publish.sh` catches every way a consumer install can go wrong.

The script runs the real scenario (devpi, pypiserver, ``./pants publish``); these tests feed the same
checks installs that went wrong, so a check that could never fail would show here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from e2e.dependency_confusion import (
    DECOY_ATTRIBUTE,
    DECOY_MARKER_PREFIX,
    Check,
    ScenarioError,
    Wheel,
    build_decoy_wheel,
    check_control,
    check_install,
    check_upload_refused,
    consumer_command,
    decoy_versions,
    download_args,
    library_versions,
    main,
    probe,
    read_wheel,
)

DEVPI = "http://127.0.0.1:3141"
INTERNAL = f"{DEVPI}/root/internal/"
MIRROR = f"{DEVPI}/root/public/"
PUBLIC = "http://127.0.0.1:8080/"
VERSIONS = {"internal-base": "0.1.0", "internal-rdbms": "0.1.0"}

README = """
Some prose.

<!-- consumer-command -->
```bash
pip install --index-url https://pypi.internal.example/root/internal/+simple/ "internal-rdbms[x]" internal-base
```
<!-- /consumer-command -->
"""


def _item(name: str, version: str, url: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "version": version}, "download_info": {"url": url}}


def _good_report() -> dict[str, Any]:
    return {
        "install": [
            _item("internal-base", "0.1.0", f"{INTERNAL}+f/a1/b2/internal_base-0.1.0-py3-none-any.whl"),
            _item("internal_rdbms", "0.1.0", f"{INTERNAL}+f/c3/d4/internal_rdbms-0.1.0-py3-none-any.whl"),
            _item("SQLAlchemy", "2.0.36", f"{MIRROR}+f/e5/f6/sqlalchemy-2.0.36-cp311-none-any.whl"),
        ]
    }


def _good_probe(venv: str = "/venv") -> dict[str, Any]:
    modules = {
        m: {"file": f"{venv}/lib/site-packages/{m}/__init__.py", "in_venv": True, "decoy": None}
        for m in ("internal_base", "internal_rdbms")
    }
    return {"modules": modules, "decoy_markers": []}


def _good_list() -> list[dict[str, str]]:
    return [
        {"name": "internal-base", "version": "0.1.0"},
        {"name": "internal-rdbms", "version": "0.1.0"},
        {"name": "SQLAlchemy", "version": "2.0.36"},
    ]


def _judge(**overrides: Any) -> list[Check]:
    args: dict[str, Any] = {
        "report": _good_report(),
        "pip_list": _good_list(),
        "probe": _good_probe(),
        "versions": VERSIONS,
        "internal_url": INTERNAL,
        "mirror_url": MIRROR,
    }
    args.update(overrides)
    return check_install(**args)


def _failed(checks: list[Check]) -> list[str]:
    return [c.name for c in checks if not c.ok]


# --------------------------------------------------------------------------- check_install


def test_clean_install_passes_every_check() -> None:
    """An install of the right versions from the right places passes all 11 checks."""
    checks = _judge()
    assert _failed(checks) == []
    assert len(checks) == 11


def test_internal_library_from_the_mirror_fails() -> None:
    """An internal library whose file came through the mirror fails its source check."""
    report = _good_report()
    report["install"][1]["download_info"]["url"] = f"{MIRROR}+f/00/11/internal_rdbms-0.1.0-py3-none-any.whl"
    assert _failed(_judge(report=report)) == ["internal-rdbms came from the internal index"]


def test_decoy_version_in_the_report_fails() -> None:
    """A decoy's version in the install report fails the version and no-decoy checks."""
    report = _good_report()
    report["install"][1] = _item("internal-rdbms", "0.1.999", f"{MIRROR}+f/9/9/internal_rdbms-0.1.999.whl")
    assert _failed(_judge(report=report)) == [
        "internal-rdbms is 0.1.0, the version in its BUILD",
        "internal-rdbms came from the internal index",
        "pip installed no decoy",
    ]


def test_decoy_in_pip_list_fails() -> None:
    """A decoy version that pip list shows fails, even when the report looks clean."""
    pip_list = [*_good_list()[:1], {"name": "internal_rdbms", "version": "9.9.0"}]
    assert _failed(_judge(pip_list=pip_list)) == ["pip list shows no decoy"]


def test_decoy_marker_file_fails() -> None:
    """A decoy's marker module in site-packages fails."""
    probe = _good_probe()
    probe["decoy_markers"] = [f"{DECOY_MARKER_PREFIX}internal_rdbms.py"]
    assert _failed(_judge(probe=probe)) == ["no decoy marker file in site-packages"]


def test_decoy_module_on_import_fails() -> None:
    """A module that imports as a decoy fails its import check."""
    probe = _good_probe()
    probe["modules"]["internal_base"]["decoy"] = "internal-base 9.9.0"
    assert _failed(_judge(probe=probe)) == ["import internal_base works from the venv"]


def test_import_error_or_module_outside_venv_fails() -> None:
    """A library that does not import, or imports from outside the venv, fails its import check."""
    probe = _good_probe()
    probe["modules"]["internal_base"] = {"error": "ModuleNotFoundError: No module named 'pydantic'"}
    probe["modules"]["internal_rdbms"]["in_venv"] = False
    assert _failed(_judge(probe=probe)) == [
        "import internal_base works from the venv",
        "import internal_rdbms works from the venv",
    ]


def test_third_party_from_outside_the_mirror_fails() -> None:
    """A third-party distribution fetched from anywhere but the mirror fails."""
    report = _good_report()
    report["install"][2]["download_info"]["url"] = "https://files.pythonhosted.org/x/sqlalchemy-2.0.36.whl"
    assert _failed(_judge(report=report)) == ["1 third-party distributions came through the mirror"]


def test_missing_library_fails() -> None:
    """A library the command did not install fails the completeness and its own checks."""
    report = _good_report()
    del report["install"][0]
    failed = _failed(_judge(report=report))
    assert failed[:3] == [
        "the consumer command installed every internal library",
        "internal-base is 0.1.0, the version in its BUILD",
        "internal-base came from the internal index",
    ]


def test_no_third_party_at_all_fails() -> None:
    """A report without a single third-party distribution fails (the mirror went untested)."""
    report = _good_report()
    del report["install"][2]
    assert "third-party distributions were installed at all" in _failed(_judge(report=report))


# --------------------------------------------------------------------------- the control


def test_control_passes_when_the_unsafe_command_picks_decoys() -> None:
    """The control passes when pip, given the public index as extra, picks a decoy for each name."""
    report = {
        "install": [
            _item("internal-rdbms", "0.1.999", f"{PUBLIC}packages/internal_rdbms-0.1.999-py3-none-any.whl"),
            _item("internal-base", "0.1.999", f"{PUBLIC}packages/internal_base-0.1.999-py3-none-any.whl"),
        ]
    }
    assert [c.ok for c in check_control(report, VERSIONS, PUBLIC)] == [True]


def test_control_fails_when_the_decoys_were_not_eligible() -> None:
    """The control fails when pip picked our own release: the decoys would prove nothing."""
    report = {"install": [_item("internal-rdbms", "0.1.0", f"{INTERNAL}+f/1/2/internal_rdbms-0.1.0.whl")]}
    assert [c.ok for c in check_control(report, VERSIONS, PUBLIC)] == [False]


@pytest.mark.parametrize(("status", "ok"), [(401, True), (403, True), (200, False), (500, False)])
def test_upload_with_a_wrong_password_must_be_refused(status: int, ok: bool) -> None:
    """Only a 401 or 403 answer to a wrong-password upload passes."""
    assert [c.ok for c in check_upload_refused(status)] == [ok]


# --------------------------------------------------------------------------- the README's command


def test_consumer_command_swaps_only_the_index_url() -> None:
    """The README's command keeps its requirements, quoting removed, with the index URL replaced."""
    command = consumer_command(README)
    assert command.index_url == "https://pypi.internal.example/root/internal/+simple/"
    assert command.pip_args(INTERNAL) == [
        "install",
        "--index-url",
        INTERNAL,
        "internal-rdbms[x]",
        "internal-base",
    ]


@pytest.mark.parametrize("unsafe", ["--extra-index-url https://pypi.org/simple/", "--find-links=/tmp/w"])
def test_consumer_command_with_another_source_is_rejected(unsafe: str) -> None:
    """A README command that adds another index or a folder is an error naming the option."""
    readme = README.replace("internal-base\n", f"internal-base {unsafe}\n")
    with pytest.raises(ScenarioError, match=unsafe.split()[0].split("=")[0]):
        consumer_command(readme)


def test_readme_without_markers_is_rejected() -> None:
    """A README without the consumer-command markers is an error naming them."""
    with pytest.raises(ScenarioError, match="consumer-command"):
        consumer_command(README.replace("<!-- /consumer-command -->", ""))


def test_consumer_command_needs_exactly_one_index_url() -> None:
    """A command without --index-url is an error."""
    with pytest.raises(ScenarioError, match="exactly one --index-url"):
        consumer_command(
            README.replace("--index-url https://pypi.internal.example/root/internal/+simple/", "")
        )


def test_download_args_give_every_library_as_its_wheel_with_the_consumers_extras(tmp_path: Path) -> None:
    """Every internal project is a wheel file (extras kept), so pip never looks one up on an index."""
    wheels = {
        name: Wheel(tmp_path / f"{name.replace('-', '_')}-0.1.0-py3-none-any.whl", name, "0.1.0", ())
        for name in ("internal-base", "internal-cache", "internal-rdbms")
    }
    args = download_args(consumer_command(README), wheels)
    assert args == [
        str(wheels["internal-base"].path),
        str(wheels["internal-cache"].path),
        f"{wheels['internal-rdbms'].path}[x]",
    ]


def test_download_args_reject_an_unknown_internal_name(tmp_path: Path) -> None:
    """A consumer requirement that no library builds is an error naming it."""
    wheels = {"internal-base": Wheel(tmp_path / "b.whl", "internal-base", "0.1.0", ())}
    with pytest.raises(ScenarioError, match="internal-rdbms"):
        download_args(consumer_command(README), wheels)


# --------------------------------------------------------------------------- decoys and versions


def test_first_decoy_version_is_admitted_by_the_compatible_release_requirement() -> None:
    """One decoy fits ``~=0.1.0`` and beats 0.1.0 (as PyPI's internal-rdbms 0.1.x does); one is far higher."""
    eligible, high = decoy_versions("0.1.0")
    # ~=0.1.0 admits 0.1.x above 0.1.0
    assert eligible.split(".")[:2] == ["0", "1"]
    assert int(eligible.split(".")[2]) > 0
    assert (eligible, high) == ("0.1.999", "9.9.0")


def test_decoy_wheel_is_a_valid_wheel_that_marks_itself(tmp_path: Path) -> None:
    """The decoy wheel's metadata names the impersonated project, RECORD hashes match, and it marks itself."""
    path = build_decoy_wheel(tmp_path, "internal-rdbms", "9.9.0")
    wheel = read_wheel(path)
    assert (wheel.name, wheel.version, wheel.requires) == ("internal-rdbms", "9.9.0", ())
    with zipfile.ZipFile(path) as zf:
        record = zf.read("internal_rdbms-9.9.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            member, digest, size = line.split(",")
            if not digest:
                continue
            data = zf.read(member)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(data)), member
        assert f'{DECOY_ATTRIBUTE} = "internal-rdbms 9.9.0"' in zf.read("internal_rdbms/__init__.py").decode()
        assert f"{DECOY_MARKER_PREFIX}internal_rdbms.py" in zf.namelist()
    assert len(record) == 5


def test_library_versions_read_each_build_file(tmp_path: Path) -> None:
    """Each libs/<lib>/BUILD's version= is the expected version of internal-<lib>."""
    for lib, version in (("base", "0.1.0"), ("rdbms", "0.2.3")):
        (tmp_path / lib).mkdir()
        (tmp_path / lib / "BUILD").write_text(
            f'commons_library(\n    "{lib}",\n    version="{version}",\n)\n'
        )
    assert library_versions(tmp_path) == {"internal-base": "0.1.0", "internal-rdbms": "0.2.3"}


def test_library_without_version_is_an_error(tmp_path: Path) -> None:
    """A BUILD file without a version is an error naming the file."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "BUILD").write_text('commons_library("base")\n')
    with pytest.raises(ScenarioError, match="base/BUILD"):
        library_versions(tmp_path)


# --------------------------------------------------------------------------- the command line


def _write_inputs(tmp_path: Path, report: dict[str, Any]) -> list[str]:
    (tmp_path / "libs" / "base").mkdir(parents=True)
    (tmp_path / "libs" / "base" / "BUILD").write_text('commons_library("base", version="0.1.0")\n')
    control = {"install": [_item("internal-base", "0.1.999", f"{PUBLIC}packages/internal_base-0.1.999.whl")]}
    probe = {"modules": {"internal_base": _good_probe()["modules"]["internal_base"]}, "decoy_markers": []}
    files = {"report": report, "pip-list": _good_list()[:1], "probe": probe, "control": control}
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return [
        "check", "--libs", str(tmp_path / "libs"),
        *(a for name in files for a in (f"--{name}", str(tmp_path / f"{name}.json"))),
        "--internal-url", INTERNAL, "--mirror-url", MIRROR, "--public-url", PUBLIC,
        "--bad-upload-status", "401",
    ]  # fmt: skip


def test_check_command_exits_zero_and_prints_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` prints PASS for each check and exits 0 when all pass."""
    report = {"install": [_good_report()["install"][0], _good_report()["install"][2]]}
    assert main(_write_inputs(tmp_path, report)) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "10 checks passed, 0 failed" in out


def test_check_command_exits_one_and_prints_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` prints FAIL with the offending source and exits 1 when a check fails."""
    stray = _item("internal-base", "0.1.0", f"{PUBLIC}packages/internal_base-0.1.0-py3-none-any.whl")
    report = {"install": [stray, _good_report()["install"][2]]}
    assert main(_write_inputs(tmp_path, report)) == 1
    out = capsys.readouterr().out
    assert f"FAIL internal-base came from the internal index: {PUBLIC}packages/" in out
    assert "9 checks passed, 1 failed" in out


def test_bad_input_exits_two_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A README without the markers makes the command exit 2 with the reason on stderr."""
    readme = tmp_path / "README.md"
    readme.write_text("# nothing here\n")
    assert main(["consumer-args", "--readme", str(readme), "--index-url", INTERNAL]) == 2
    assert "consumer-command" in capsys.readouterr().err


def test_probe_reports_decoy_attribute_and_import_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venv probe reads a module's decoy attribute and records an import error instead of raising."""
    (tmp_path / "probe_decoy_pkg.py").write_text(f'{DECOY_ATTRIBUTE} = "internal-x 9.9.0"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    result = probe(["probe_decoy_pkg", "probe_no_such_module"])
    assert result["modules"]["probe_decoy_pkg"]["decoy"] == "internal-x 9.9.0"
    assert result["modules"]["probe_decoy_pkg"]["file"] == str((tmp_path / "probe_decoy_pkg.py").resolve())
    assert result["modules"]["probe_no_such_module"] == {
        "error": "ModuleNotFoundError: No module named 'probe_no_such_module'"
    }
