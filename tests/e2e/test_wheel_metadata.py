"""The built wheels declare what a consumer's pip needs to put the right siblings beside them.

Pants puts every library's wheel into the sandbox (`runtime_package_dependencies`); outside Pants, point
``COMMONS_WHEEL_DIR`` at a folder of wheels (``./pants package ::`` writes them to ``dist/``).
Publishing and installing them from a real index is `.ci/decoy_publish.sh`, which needs Pants itself.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.dependency_confusion import Wheel, read_wheel, requirement_name

WHEEL_DIR_ENV = "COMMONS_WHEEL_DIR"
# Directories that never hold the packages under test (and can be large).
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def _iter_wheel_files(root: Path) -> Iterator[Path]:
    """Every ``internal_*.whl`` below `root`, skipping hidden and environment directories."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS]
        for filename in filenames:
            if filename.startswith("internal_") and filename.endswith(".whl"):
                yield Path(dirpath) / filename


@pytest.fixture(scope="module")
def wheels() -> dict[str, Wheel]:
    """The built internal wheels in the sandbox (or ``$COMMONS_WHEEL_DIR``), by project name."""
    root = Path(os.environ.get(WHEEL_DIR_ENV) or Path.cwd())
    found: dict[str, Wheel] = {}
    for path in sorted(_iter_wheel_files(root)):
        wheel = read_wheel(path)
        previous = found.setdefault(wheel.name, wheel)
        if previous.version != wheel.version:
            pytest.fail(f"two versions of {wheel.name}: {previous.path} and {path}; set {WHEEL_DIR_ENV}")
    if not {"internal-base", "internal-cache"} <= found.keys():
        pytest.fail(
            f"no built wheels under {root}: under Pants the test target lists every library's :dist in "
            f"runtime_package_dependencies; outside it run ./pants package :: and set {WHEEL_DIR_ENV}=dist"
        )
    return found


def test_sibling_requirements_are_compatible_releases_of_the_built_versions(wheels: dict[str, Wheel]) -> None:
    """Every internal-* a wheel requires is a built library, pinned ``~=`` to the version built beside it."""
    problems = []
    for wheel in wheels.values():
        for line in wheel.requires:
            name = requirement_name(line)
            if not name.startswith("internal-"):
                continue
            spec = re.sub(r"[\s()]", "", line.partition(";")[0])[len(name) :]
            if name not in wheels:
                problems.append(f"{wheel.name} requires {name}, which no library builds")
            elif spec != f"~={wheels[name].version}":
                problems.append(f"{wheel.name} requires {name}{spec}, not ~={wheels[name].version}")
    assert problems == []
    cache_requires = [requirement_name(r) for r in wheels["internal-cache"].runtime_requirements()]
    assert "internal-base" in cache_requires


def test_every_wheel_ships_its_py_typed_marker(wheels: dict[str, Wheel]) -> None:
    """Each wheel carries ``internal_<lib>/py.typed``, so type checkers read the installed package."""
    missing = []
    for wheel in wheels.values():
        marker = f"{wheel.name.replace('-', '_')}/py.typed"
        with zipfile.ZipFile(wheel.path) as zf:
            if marker not in zf.namelist():
                missing.append(f"{wheel.path.name} lacks {marker}")
    assert missing == []
