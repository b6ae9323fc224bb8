"""Check a public module's curated ``__all__``: the one public-API test of every library.

```python
from internal_testing.public_api import assert_public_api

@pytest.mark.parametrize("module", ["internal_cache", "internal_cache.client"])
def test_public_api(module: str) -> None:
    assert_public_api(module)
```

A package root must also state its distribution's version as ``__version__``.
A module passes when ``__all__`` exists, is a sorted list of unique strings, every name in it
resolves, every public name *defined in* the module is in it, and every exported class or
function of the module's own package has a docstring (third-party re-exports are documented by
their project). "Defined in" means a class, function or other object whose
``__module__`` is the module, or a name the module's source binds at top level by anything but an
import; imported modules, names starting with ``_``, and objects imported from elsewhere (typing
aliases, re-exports that the module does not list) are not required.

Only the standard library is imported, so checking a module imports nothing but that module.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
import types

__all__ = ["assert_public_api", "public_api_problems"]


def assert_public_api(module_name: str) -> None:
    """Fail with every problem of ``module_name``'s public API listed, one per line.

    Args:
        module_name: Dotted name of the module to import and check (``"internal_cache.client"``).

    Raises:
        AssertionError: At least one problem was found; the message lists them all.
        ImportError: The module cannot be imported.
    """
    problems = public_api_problems(module_name)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise AssertionError(f"public API of {module_name} has {len(problems)} problem(s):\n{listed}")


def public_api_problems(module_name: str) -> list[str]:
    """The problems of ``module_name``'s public API, as sentences; empty when it is sound.

    Args:
        module_name: Dotted name of the module to import and check.

    Raises:
        ImportError: The module cannot be imported.
    """
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return [f"{module_name} has no __all__"]
    if not isinstance(exported, list | tuple) or not all(isinstance(name, str) for name in exported):
        return [f"__all__ must be a list of strings, got {exported!r}"]
    names: list[str] = list(exported)
    problems: list[str] = []
    if names != sorted(names):
        problems.append(f"__all__ is not sorted; sorted it reads {sorted(names)!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"__all__ lists {', '.join(duplicates)} more than once")
    problems.extend(
        f"__all__ names {name!r}, which {module_name} does not define"
        for name in names
        if not hasattr(module, name)
    )
    missing = sorted(_defined_here(module) - set(names))
    problems.extend(f"{name} is defined in {module_name} but missing from __all__" for name in missing)
    package = module_name.partition(".")[0]
    if module_name == package and hasattr(module, "__path__"):  # a package root
        problems.extend(_version_problems(module))
    for name in names:
        value = getattr(module, name, None)
        # Third-party re-exports (pydantic's SecretStr ...) are documented by their own project.
        first_party = str(getattr(value, "__module__", "")).partition(".")[0] == package
        if first_party and _needs_docstring(value) and not _has_docstring(value):
            problems.append(f"{name} is exported without a docstring")
    return problems


def _version_problems(package: types.ModuleType) -> list[str]:
    """A package root states its distribution's version (``internal_x`` → ``internal-x``).

    From a source checkout without installed metadata (a Pants sandbox) the family's fallback
    ``0.0.0+source`` is expected instead.
    """
    from importlib.metadata import PackageNotFoundError, version

    distribution = package.__name__.replace("_", "-")
    try:
        expected = version(distribution)
    except PackageNotFoundError:
        expected = "0.0.0+source"
    actual = getattr(package, "__version__", None)
    if actual != expected:
        return [f"{package.__name__}.__version__ is {actual!r}, expected {expected!r} (from {distribution})"]
    return []


def _defined_here(module: types.ModuleType) -> set[str]:
    """Public names the module itself defines (by ``__module__`` or a top-level binding in its source)."""
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", None) == module.__name__
    }
    bound = {
        name
        for name in _bound_in_source(module)
        if not name.startswith("_")
        and name in vars(module)  # not deleted again
        and not isinstance(vars(module)[name], types.ModuleType)
    }
    return defined | bound


def _bound_in_source(module: types.ModuleType) -> set[str]:
    """Names bound at the top level of the module's source by assignments, ``def`` and ``class``."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):  # no source (built in memory, compiled only): __module__ decides
        return set()
    bound: set[str] = set()
    for node in ast.parse(textwrap.dedent(source)).body:
        bound.update(_targets(node))
    return bound


def _targets(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {name for target in node.targets for name in _names(target)}
    if isinstance(node, ast.AnnAssign) and node.value is not None:  # a bare ``x: int`` binds nothing
        return _names(node.target)
    if isinstance(node, ast.If | ast.Try):  # ``if TYPE_CHECKING:`` / ``try: ... except ImportError:``
        bodies = [node.body, node.orelse]
        if isinstance(node, ast.Try):
            bodies += [handler.body for handler in node.handlers] + [node.finalbody]
        return {name for body in bodies for child in body for name in _targets(child)}
    return set()


def _names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return {name for element in target.elts for name in _names(element)}
    return set()  # attribute or subscript assignment binds no module name


def _needs_docstring(value: object) -> bool:
    return inspect.isclass(value) or inspect.isfunction(value) or inspect.ismethod(value)


def _has_docstring(value: object) -> bool:
    doc = value.__dict__.get("__doc__") if inspect.isclass(value) else getattr(value, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return False
    if inspect.isclass(value):
        # Docstrings that Python writes for a class the author left undocumented.
        generated = dataclasses.is_dataclass(value) or (
            issubclass(value, tuple) and hasattr(value, "_fields")
        )
        if generated and doc.startswith(f"{value.__name__}("):
            return False
    return True
