"""Tests for internal_testing's own API and the shared ``public_api`` check."""

from __future__ import annotations

import linecache
import subprocess
import sys
import types
import uuid

import pytest

import internal_testing
from internal_testing import plugin
from internal_testing.public_api import assert_public_api, public_api_problems


def test_all_is_sorted_and_complete() -> None:
    assert internal_testing.__all__ == sorted(internal_testing.__all__)
    assert all(hasattr(internal_testing, name) for name in internal_testing.__all__)
    assert {"LocalRedisServer", "ServiceUnavailable", "serve_asgi_app"} <= set(internal_testing.__all__)


def test_the_plugin_defines_the_contract_fixtures() -> None:
    expected = {
        "aws_credentials",
        "aws_endpoint_url",
        "aws_proxy",
        "mysql_url",
        "postgres_replica",
        "postgres_url",
        "redis_cluster",
        "redis_key_prefix",
        "redis_sentinel",
        "redis_server_factory",
        "redis_url",
        "serve_asgi",
        "unique_name",
    }
    assert set(plugin.__all__) == expected
    assert all(callable(getattr(plugin, name)) for name in expected)


# -- public_api: the shared __all__ check -----------------------------------------------------
def throwaway(monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    """Build a module from ``source`` in memory (its source readable by inspect), return its name."""
    name = f"throwaway_{uuid.uuid4().hex}"
    filename = f"<{name}>"
    module = types.ModuleType(name)
    module.__file__ = filename
    monkeypatch.setitem(linecache.cache, filename, (len(source), None, source.splitlines(True), filename))
    monkeypatch.setitem(sys.modules, name, module)  # before exec: dataclasses look their module up
    exec(compile(source, filename, "exec"), module.__dict__)  # - the test's own source
    return name


SOUND = '''
"""A sound public module."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable

from internal_testing._names import unique_name

__all__ = ["Hook", "LIMIT", "Widget", "make", "unique_name"]

LIMIT = 3
Hook = Callable[[int], Any]
_private = 1


class Widget:
    """A widget."""


def make() -> Widget:
    """Make a widget."""
    return Widget()


def _helper() -> None:
    pass


Widget.kind = "plain"  # binds an attribute, not a module name
'''


def test_a_sound_module_has_no_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports, private names and re-exports with docstrings pass."""
    name = throwaway(monkeypatch, SOUND)
    assert public_api_problems(name) == []
    assert_public_api(name)


def test_missing_all_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module without __all__ says so."""
    name = throwaway(monkeypatch, "X = 1\n")
    assert public_api_problems(name) == [f"{name} has no __all__"]


def test_all_must_hold_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    """An __all__ that is not a list of strings is reported."""
    name = throwaway(monkeypatch, "X = 1\n__all__ = [X]\n")
    assert public_api_problems(name) == ["__all__ must be a list of strings, got [1]"]


def test_unsorted_all_is_reported_with_the_sorted_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unsorted __all__ is a problem that shows the sorted order."""
    name = throwaway(monkeypatch, '__all__ = ["b", "a"]\na = 1\nb = 2\n')
    assert public_api_problems(name) == ["__all__ is not sorted; sorted it reads ['a', 'b']"]


def test_duplicates_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name listed twice is a problem."""
    name = throwaway(monkeypatch, '__all__ = ["a", "a"]\na = 1\n')
    assert public_api_problems(name) == ["__all__ lists a more than once"]


def test_undefined_names_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name in __all__ that the module does not define is a problem."""
    name = throwaway(monkeypatch, '__all__ = ["gone"]\n')
    assert public_api_problems(name) == [f"__all__ names 'gone', which {name} does not define"]


def test_public_names_defined_here_must_be_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Public functions, classes and constants defined in the module but not in __all__ are reported."""
    source = (
        "__all__: list[str] = []\nLIMIT = 3\nA, B = 1, 2\n"
        "class Widget:\n    'W.'\n"
        "def make():\n    'M.'\n"
    )
    name = throwaway(monkeypatch, source)
    assert public_api_problems(name) == [
        f"{missing} is defined in {name} but missing from __all__"
        for missing in ["A", "B", "LIMIT", "Widget", "make"]
    ]


def test_objects_whose_module_is_this_one_count_as_defined_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without readable source, __module__ decides what the module defines."""
    module = types.ModuleType(f"throwaway_{uuid.uuid4().hex}")
    exec("def helper():\n    'H.'\n__all__ = []\nLIMIT = 3\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert public_api_problems(module.__name__) == [
        f"helper is defined in {module.__name__} but missing from __all__"
    ]


def test_imported_names_and_typing_aliases_are_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported modules, classes, functions and typing pieces need not be exported."""
    name = throwaway(
        monkeypatch, "import os\nfrom typing import Any\nfrom collections import OrderedDict\n__all__ = []\n"
    )
    assert public_api_problems(name) == []


def test_exports_need_docstrings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exported classes and functions without a docstring, or with only a generated one, are reported."""
    source = (
        "import dataclasses, enum, typing\n"
        '__all__ = ["Color", "Point", "Record", "Widget", "make", "ok"]\n'
        "class Widget: pass\n"
        "def make(): pass\n"
        "def ok():\n    '''Fine.'''\n"
        "@dataclasses.dataclass\nclass Point:\n    x: int\n"
        "class Record(typing.NamedTuple):\n    x: int\n"
        "class Color(enum.Enum):\n    RED = 1\n"
    )
    name = throwaway(monkeypatch, source)
    assert public_api_problems(name) == [
        f"{missing} is exported without a docstring"
        for missing in ["Color", "Point", "Record", "Widget", "make"]
    ]


def test_third_party_reexports_need_no_docstring(monkeypatch: pytest.MonkeyPatch) -> None:
    """A class of another package exported without a docstring is its project's business."""
    other = throwaway(monkeypatch, "class Plain: pass\n")
    name = throwaway(monkeypatch, f"from {other} import Plain\n__all__ = ['Plain']\n")
    assert public_api_problems(name) == []


def test_assert_public_api_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """The assertion message names the module and lists all problems, one per line."""
    name = throwaway(monkeypatch, '__all__ = ["z", "gone"]\nz = 1\ndef extra(): pass\n')
    with pytest.raises(AssertionError) as caught:
        assert_public_api(name)
    assert str(caught.value).splitlines() == [
        f"public API of {name} has 3 problem(s):",
        "  - __all__ is not sorted; sorted it reads ['gone', 'z']",
        f"  - __all__ names 'gone', which {name} does not define",
        f"  - extra is defined in {name} but missing from __all__",
    ]


@pytest.mark.parametrize("module", ["internal_testing", "internal_testing.public_api"])
def test_public_api(module: str) -> None:
    """internal_testing's own public modules pass the check."""
    assert_public_api(module)


def test_public_api_module_imports_no_library() -> None:
    """Importing internal_testing.public_api loads no commons library."""
    libraries = ["internal_base", "internal_cache", "internal_rdbms"]
    libraries += ["internal_aws", "internal_http", "internal_fastapi"]
    code = (
        "import sys, internal_testing.public_api\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {libraries!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_internal_testing_passes_its_own_check() -> None:
    """internal_testing's root is sound, its __version__ included."""
    assert_public_api("internal_testing")


def test_a_package_root_must_state_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package root without the distribution's __version__ is a problem; plain modules need none."""
    name = throwaway(monkeypatch, SOUND)
    assert public_api_problems(name) == []
    sys.modules[name].__path__ = []  # now a package root
    assert public_api_problems(name) == [
        f"{name}.__version__ is None, expected '0.0.0+source' (from {name.replace('_', '-')})"
    ]
    sys.modules[name].__dict__["__version__"] = "0.0.0+source"
    assert public_api_problems(name) == []
