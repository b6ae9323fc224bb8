"""The Python examples in the docs run, against the real services.

Every fenced block tagged ``python`` in README.md, ARCHITECTURE.md and ``libs/*/README.md`` is one test
(id ``file:line``). A block runs in a fresh ``python`` subprocess, in a temporary working directory, with
a timeout, and with the service URLs in the environment the libraries already read (``COMMONS_CACHE_URL``,
``COMMONS_RDBMS_URL``, ``COMMONS_AWS_ENDPOINT_URL`` ... see the ``environment`` fixture); a block that
uses ``Database`` gets a PostgreSQL database of its own. Top-level ``await`` works: such a block runs
inside ``asyncio.run``. A block fails its test, with its output, when it raises or exits non-zero.

Two HTML comments, on the last non-blank line before a block, change that:

* ``<!-- not-runnable: <reason> -->`` skips the block with that reason. It is the only way to skip, and
  the reason must not be empty (``test_not_runnable_markers_give_a_reason``).
* ``<!-- continues -->`` runs the block after the previous one, in the same namespace: the test of a
  continuing block runs the whole chain up to it.

Bash and other blocks are not executed.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from internal_testing._postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "ARCHITECTURE.md", *ROOT.glob("libs/*/README.md")])
TIMEOUT = 120.0
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)")
_MARKER = re.compile(r"^<!--\s*(not-runnable|continues)\b:?(.*?)-->\s*$")
# Runs the files (name, path, name, path ...) one after the other in one namespace; each compiles with
# top-level await allowed, and a block that awaits at top level runs in its own asyncio.run.
_RUNNER = """
import ast, asyncio, sys
namespace = {"__name__": "__main__"}
for name, path in zip(sys.argv[1::2], sys.argv[2::2]):
    source = open(path, encoding="utf-8").read()
    result = eval(compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
"""


@dataclass(frozen=True)
class Block:
    """One ``python`` block: where it starts, its source and the marker before it."""

    doc: Path
    line: int
    source: str
    marker: str | None
    reason: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def _blocks(doc: Path) -> list[Block]:
    """Every ``python`` block of ``doc``, with the marker on the last non-blank line before it."""
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    previous = ""
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if not fence:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        start, end = index, index + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        if fence.group(2) == "python":
            marker = _MARKER.match(previous)
            blocks.append(
                Block(
                    doc=doc,
                    line=start + 1,
                    source="\n".join(lines[start + 1 : end]) + "\n",
                    marker=marker.group(1) if marker else None,
                    reason=marker.group(2).strip() if marker else "",
                )
            )
        previous = lines[end].strip() if end < len(lines) else ""
        index = end + 1
    return blocks


ALL_BLOCKS = [block for doc in DOCS for block in _blocks(doc)]


def _chain(block: Block) -> list[Block]:
    """The blocks the block continues, then the block."""
    position = ALL_BLOCKS.index(block)
    start = position
    while ALL_BLOCKS[start].marker == "continues":
        start -= 1
        assert ALL_BLOCKS[start].doc == block.doc, f"{block.id} continues nothing"
        assert ALL_BLOCKS[start].marker != "not-runnable", f"{block.id} continues a not-runnable block"
    return ALL_BLOCKS[start : position + 1]


@pytest.fixture(scope="module")
def environment(
    postgres_url: str,
    mysql_url: str,
    redis_url: str,
    aws_endpoint_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """The environment of every example: the services where the libraries look for them."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COMMONS_", "AWS_"))}
    env.update(
        COMMONS_POSTGRES_URL=postgres_url,
        COMMONS_MYSQL_URL=mysql_url,
        COMMONS_REDIS_URL=redis_url,
        COMMONS_CACHE_URL=redis_url,
        COMMONS_RDBMS_URL=postgres_url,
        COMMONS_AWS_ENDPOINT_URL=aws_endpoint_url,
        COMMONS_AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        HOME=str(tmp_path_factory.mktemp("home")),
        PYTHONDONTWRITEBYTECODE="1",
        # What this interpreter imports from (under Pants: the test's PEX), the example imports from.
        # Absolute: a Pants sandbox puts relative source roots on sys.path, and the block runs elsewhere.
        PYTHONPATH=os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry),
    )
    return env


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_example_runs(block: Block, environment: dict[str, str], tmp_path: Path) -> None:
    """The example runs to the end without an error."""
    if block.marker == "not-runnable":
        pytest.skip(f"{block.id} is not runnable: {block.reason}")
    chain = _chain(block)
    arguments = []
    for number, part in enumerate(chain):
        example = tmp_path / f"example_{number}.py"
        # Blank lines in front keep the README's line numbers in tracebacks.
        example.write_text("\n" * part.line + part.source, encoding="utf-8")
        arguments += [part.doc.relative_to(ROOT).as_posix(), str(example)]
    with contextlib.ExitStack() as stack:
        env = dict(environment)
        if any("Database" in part.source for part in chain):  # one example's tables never meet another's
            env["COMMONS_RDBMS_URL"] = stack.enter_context(fresh_database(env["COMMONS_POSTGRES_URL"]))
        result = _run(arguments, block.id, tmp_path, env)
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"


def _run(arguments: list[str], name: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the example files in a fresh interpreter; fail the test with its output on a timeout."""
    try:
        return subprocess.run(
            [sys.executable, "-c", _RUNNER, *arguments],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name} did not finish within {TIMEOUT} s; output:\n{exc.stdout!r}\n{exc.stderr!r}")


def test_not_runnable_markers_give_a_reason() -> None:
    """Every not-runnable marker says why the block cannot run."""
    assert [block.id for block in ALL_BLOCKS if block.marker == "not-runnable" and not block.reason] == []


def test_python_blocks_are_found() -> None:
    """The collector finds the python blocks of every library README (a broken parser would skip them all)."""
    documented = {block.doc.parent.name for block in ALL_BLOCKS if block.doc.parent.parent.name == "libs"}
    assert documented >= {"base", "cache", "rdbms", "http", "testing"}


def test_markers_are_read_from_the_line_before_a_block(tmp_path: Path) -> None:
    """A marker applies to the block right after it, with its reason; other blocks have none."""
    doc = tmp_path / "README.md"
    doc.write_text(
        "<!-- not-runnable: needs a cluster -->\n```python\na = 1\n```\n\n"
        "<!-- continues -->\n\n```python\nb = a\n```\n\n```bash\nls\n```\n\n```python\nc = 3\n```\n",
        encoding="utf-8",
    )
    blocks = _blocks(doc)
    assert [(b.line, b.marker, b.reason, b.source) for b in blocks] == [
        (2, "not-runnable", "needs a cluster", "a = 1\n"),
        (8, "continues", "", "b = a\n"),
        (16, None, "", "c = 3\n"),
    ]


def test_top_level_await_runs_and_a_raising_example_fails(tmp_path: Path) -> None:
    """An awaiting block runs to the end; the next one in the chain sees its names and its error fails."""
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(
        "import asyncio\nawait asyncio.sleep(0)\nvalue = 42\nprint('ran', value)\n", encoding="utf-8"
    )
    second.write_text("raise RuntimeError(f'broken {value}')\n", encoding="utf-8")
    result = _run(["first", str(first), "second", str(second)], "chain", tmp_path, dict(os.environ))
    assert (result.returncode, result.stdout) == (1, "ran 42\n")
    assert "RuntimeError: broken 42" in result.stderr
