"""The release check against throwaway git repositories and a real PEP 503 index on loopback."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.version_check import CheckError, changed_libraries, is_published, main, read_library

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "ci",
    "GIT_AUTHOR_EMAIL": "ci@example.invalid",
    "GIT_COMMITTER_NAME": "ci",
    "GIT_COMMITTER_EMAIL": "ci@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=_GIT_ENV, check=True, capture_output=True)


def _write_library(repo: Path, name: str, version: str, changelog: tuple[str, ...] = ("0.1.0",)) -> None:
    lib = repo / "libs" / name
    (lib / "src" / f"internal_{name}").mkdir(parents=True, exist_ok=True)
    (lib / "tests").mkdir(exist_ok=True)
    (lib / "pyproject.toml").write_text(f'[project]\nname = "internal-{name}"\nversion = "{version}"\n')
    (lib / "BUILD").write_text(f'commons_library(\n    "{name}",\n    version="{version}",\n)\n')
    entries = "".join(f"## [{v}] - 2026-12-02\n\n- Something.\n\n" for v in changelog)
    (lib / "CHANGELOG.md").write_text(f"# Changelog\n\n## [Unreleased]\n\n{entries}")
    init = lib / "src" / f"internal_{name}" / "__init__.py"
    if not init.exists():
        init.write_text('"""A library."""\n')


def _bump(repo: Path, name: str, version: str) -> None:
    _write_library(repo, name, version, changelog=(version, "0.1.0"))


def _commit(repo: Path, message: str = "change") -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository with libraries alpha and beta at 0.1.0, tagged `base`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write_library(repo, "alpha", "0.1.0")
    _write_library(repo, "beta", "0.1.0")
    _commit(repo, "base")
    _git(repo, "tag", "base")
    return repo


class _Index:
    """A PEP 503 simple index served from a folder: `publish()` adds a wheel link."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder, self.url = folder, url

    def publish(self, project: str, version: str) -> None:
        page = self.folder / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        old = page.read_text() if page.exists() else ""
        wheel = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        page.write_text(f'{old}<a href="../../packages/{wheel}#sha256=00">{wheel}</a>\n')


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[_Index]:
    """A real HTTP server on loopback serving an (initially empty) simple index."""
    folder = tmp_path / "simple"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # (the base class's name)
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Index(folder, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def _run(repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["--since", "base", "--index", index.url], root=repo)
    return code, capsys.readouterr().out.splitlines()


def test_nothing_changed_passes(repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]) -> None:
    """With no change since the ref every library is unchanged and the check passes."""
    index.publish("internal-alpha", "0.1.0")
    index.publish("internal-beta", "0.1.0")
    assert _run(repo, index, capsys) == (
        0,
        ["alpha: unchanged (0.1.0)", "beta: unchanged (0.1.0)", "version check: ok"],
    )


def test_changed_source_with_published_version_fails(
    repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source change that keeps a version already on the index fails, naming the library."""
    index.publish("internal-alpha", "0.1.0")
    index.publish("internal-beta", "0.1.0")
    (repo / "libs/alpha/src/internal_alpha/__init__.py").write_text('"""Changed."""\n')
    _commit(repo)
    code, lines = _run(repo, index, capsys)
    assert code == 1
    assert lines[0] == "alpha: CHANGED BUT version 0.1.0 is already published; bump it"
    assert lines[1] == "beta: unchanged (0.1.0)"


def test_bumped_with_changelog_entry_passes(
    repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]
) -> None:
    """A changed library bumped to an unpublished version with a changelog entry passes."""
    index.publish("internal-alpha", "0.1.0")
    (repo / "libs/alpha/src/internal_alpha/__init__.py").write_text('"""Changed."""\n')
    _bump(repo, "alpha", "0.1.1")
    _commit(repo)
    assert _run(repo, index, capsys) == (
        0,
        ["alpha: changed, bumped to 0.1.1", "beta: unchanged (0.1.0)", "version check: ok"],
    )


def test_bump_without_changelog_entry_fails(
    repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new version without its CHANGELOG.md entry fails."""
    index.publish("internal-alpha", "0.1.0")
    _write_library(repo, "alpha", "0.2.0")  # changelog keeps only 0.1.0
    _commit(repo)
    code, lines = _run(repo, index, capsys)
    assert (code, lines[0]) == (1, "alpha: changed, bumped to 0.2.0 BUT CHANGELOG.md has no entry for 0.2.0")


def test_uncommitted_change_counts(repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]) -> None:
    """A change not yet committed (here a new untracked module) is a change too."""
    index.publish("internal-beta", "0.1.0")
    (repo / "libs/beta/src/internal_beta/_new.py").write_text('"""New."""\n')
    code, lines = _run(repo, index, capsys)
    assert (code, lines[1]) == (1, "beta: CHANGED BUT version 0.1.0 is already published; bump it")


def test_tests_benchmarks_and_changelog_need_no_bump(repo: Path) -> None:
    """Changes to tests/, benchmarks/ and CHANGELOG.md do not make a library changed; README does."""
    (repo / "libs/alpha/tests/test_a.py").write_text("")
    (repo / "libs/alpha/benchmarks").mkdir()
    (repo / "libs/alpha/benchmarks/bench.py").write_text("")
    (repo / "libs/alpha/CHANGELOG.md").write_text("# Changelog\n")
    _commit(repo)
    assert changed_libraries(repo, "base") == set()
    (repo / "libs/beta/README.md").write_text("# beta\n")
    assert changed_libraries(repo, "base") == {"beta"}


def test_unpublished_project_is_a_404(index: _Index) -> None:
    """A project the index has never seen (HTTP 404) is not published."""
    assert is_published(index.url, "internal-alpha", "0.1.0") is False


def test_other_version_on_the_index_is_not_this_one(index: _Index) -> None:
    """Only a file of exactly this version counts (0.1.10 is not 0.1.1)."""
    index.publish("internal-alpha", "0.1.10")
    assert is_published(index.url, "internal-alpha", "0.1.1") is False
    assert is_published(index.url, "internal-alpha", "0.1.10") is True


def test_build_and_pyproject_disagreeing_fails(repo: Path) -> None:
    """BUILD's version= differing from pyproject.toml's is refused, naming both."""
    (repo / "libs/alpha/BUILD").write_text('commons_library("alpha", version="0.1.1")\n')
    with pytest.raises(CheckError, match="pyproject.toml says version 0.1.0, BUILD says 0.1.1"):
        read_library(repo, "alpha")


def test_unknown_ref_is_exit_2(repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]) -> None:
    """A ref git does not know stops the check with exit 2 and a message naming it."""
    code = main(["--since", "no-such-ref", "--index", index.url], root=repo)
    assert code == 2
    assert "no-such-ref" in capsys.readouterr().err


def test_index_not_answering_is_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An index that does not answer stops the check with exit 2 rather than passing."""
    (repo / "libs/alpha/src/internal_alpha/__init__.py").write_text('"""Changed."""\n')
    code = main(["--since", "base", "--index", "http://127.0.0.1:1/simple/"], root=repo)
    assert code == 2
    assert "did not answer" in capsys.readouterr().err


def test_published_lists_each_current_version(
    repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]
) -> None:
    """--published says, per library, whether its current version is on the index."""
    index.publish("internal-beta", "0.1.0")
    assert main(["--published", "--index", index.url], root=repo) == 0
    assert capsys.readouterr().out.splitlines() == [
        "internal-alpha 0.1.0 absent",
        "internal-beta 0.1.0 published",
    ]


def test_changed_lists_libraries_needing_a_release(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--changed names each library whose shipped files changed, including a README-only change."""
    (repo / "libs/beta/README.md").write_text("# beta\n")
    _commit(repo)
    assert main(["--changed", "--since", "base"], root=repo) == 0
    assert capsys.readouterr().out.splitlines() == ["beta"]


def test_invalid_library_is_reported_not_fatal(
    repo: Path, index: _Index, capsys: pytest.CaptureFixture[str]
) -> None:
    """A library whose BUILD and pyproject disagree fails the check with its own line; others still print."""
    (repo / "libs/alpha/BUILD").write_text('commons_library("alpha", version="0.1.1")\n')
    code, lines = _run(repo, index, capsys)
    assert code == 1
    assert lines == [
        "alpha: INVALID: libs/alpha: pyproject.toml says version 0.1.0, BUILD says 0.1.1",
        "beta: unchanged (0.1.0)",
    ]
