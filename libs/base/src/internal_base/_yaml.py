"""Safe YAML reading for settings: ``${VAR}`` substitution and errors that name file and line.

Every failure is a ``ConfigurationError`` naming the file, line and column, and never the
value: syntax errors, a missing variable, a scalar its tag cannot build (``2024-02-30``,
``!!int eighty``, ``!!bool maybe``) and nesting deeper than ``MAX_NESTING`` levels (which
would otherwise end in a bare ``RecursionError``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from internal_base._errors import ConfigurationError
from internal_base._redaction import redact_text

MAX_NESTING: Final = 100
# Nodes aliases may add beyond those written: enough for any real reuse, far below a
# billion-laughs document (nine aliases of nine aliases ... expand to 9**n nodes).
MAX_ALIAS_EXPANSION: Final = 100_000
# The last alternative catches every other "${": a malformed reference is an error, not kept as text.
_VARIABLE: Final = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$\{")
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_MAX_KEY: Final = 80
_STANDARD_TAG: Final = "tag:yaml.org,2002:"


def substitute(text: str, *, where: str = "value") -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with environment values; ``$$`` is a literal ``$``.

    Raises:
        ConfigurationError: A variable is unset and has no default, or a ``${`` does not start a
            valid reference (``${1X}``, ``${a-b}``, an unclosed or nested one); names ``where``.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, has_default, default = match.group(1), match.group(2), match.group(3)
        if name is None or (default is not None and "${" in default):
            raise ConfigurationError(
                f"{where}: invalid variable reference (write ${{NAME}} or ${{NAME:-default}} with NAME"
                " of letters, digits and _, not nested; $$ is a literal $)"
            )
        value = os.environ.get(name)
        if value is None or (value == "" and has_default):
            if has_default is None:
                raise ConfigurationError(
                    f"{where}: environment variable ${{{name}}} is not set and has no default"
                )
            return str(default)
        return value

    return _VARIABLE.sub(replace, text)


class _Loader(yaml.SafeLoader):
    """SafeLoader that substitutes variables, bounds nesting and marks every construction error."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nesting = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        # The composer recurses once per level: refuse absurd depth before Python's stack does.
        self._nesting += 1
        try:
            if self._nesting > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nesting deeper than {MAX_NESTING} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._nesting -= 1

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()
        if node is not None:
            _check_aliases(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of duplicate keys silently; a repeated key is almost always a
        # mistake. Keys merged in with ``<<`` may still be overridden.
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                first = seen.setdefault((key.tag, key.value), key)
                if first is not key:
                    shown = redact_text(key.value[:_MAX_KEY])
                    problem = f"duplicate key {shown!r} (first on line {first.start_mark.line + 1})"
                    raise ConstructorError(None, None, problem, key.start_mark)
        return super().construct_mapping(node, deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, ConfigurationError):
            raise
        except Exception as exc:  # any constructor failure becomes a marked error
            # str(exc) would echo the value (``invalid literal for int(): 'eighty'``): name the tag only.
            tag = str(node.tag)
            name = "!!" + tag.removeprefix(_STANDARD_TAG) if tag.startswith(_STANDARD_TAG) else tag
            hint = " (quote it to keep it as text)" if _implicit_plain(node) else ""
            problem = f"value is not a valid {name}{hint} [{type(exc).__name__}]"
            raise ConstructorError(None, None, problem, node.start_mark) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_aliases(root: yaml.Node) -> None:
    """Refuse what aliases make of a document before it is built: a cycle, a bomb, deep nesting.

    Aliases share one node, so the composed tree stays small while the value it describes can be
    exponential (billion laughs) or cyclic; every later walk (validation, repr, redaction) would
    pay for the expanded value. Iterative, each node once: linear in the written document.
    """
    sizes: dict[int, tuple[int, int]] = {}  # node -> (expanded node count, expanded depth)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        children = _children(node)
        if not finished:
            if ident in sizes:
                continue
            open_nodes.add(ident)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise ComposerError(
                        None, None, "recursive alias (a value containing itself)", child.start_mark
                    )
                stack.append((child, False))
            continue
        open_nodes.discard(ident)
        size, depth = 1, 0
        for child in children:
            child_size, child_depth = sizes[id(child)]
            size, depth = size + child_size, max(depth, child_depth)
        sizes[ident] = (size, depth + 1)
        if depth + 1 > MAX_NESTING:
            raise ComposerError(
                None, None, f"nesting deeper than {MAX_NESTING} levels (through aliases)", node.start_mark
            )
        if size - len(sizes) > MAX_ALIAS_EXPANSION:
            problem = f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes (a YAML alias bomb?)"
            raise ComposerError(None, None, problem, node.start_mark)


def _implicit_plain(node: yaml.Node) -> bool:
    """An unquoted scalar typed by its look (``2024-02-30``), not by an explicit ``!!tag``."""
    mark = node.start_mark
    explicit = mark.buffer is not None and mark.buffer[mark.pointer : mark.pointer + 1] in ("!", "&")
    return isinstance(node, yaml.ScalarNode) and node.style is None and not explicit


def _construct_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    text = str(loader.construct_scalar(node))
    if "$" not in text:
        return text
    mark = node.start_mark
    return substitute(text, where=f"{mark.name}, line {mark.line + 1}")


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _named_loader(name: str) -> type[_Loader]:
    """A loader class whose marks carry ``name`` (the file path) instead of ``<unicode string>``."""

    class Named(_Loader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.name = name

    return Named


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
        raise ConfigurationError(f"cannot read settings file {file}: {reason}") from None


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML mapping with variable substitution.

    Raises:
        ConfigurationError: Unreadable file, invalid YAML, a value its tag cannot build, nesting
            deeper than 100 levels (file, line and column), a missing variable, or a top level
            that is not a mapping.
    """
    file = Path(path)
    text = _read(file)
    try:
        data = yaml.load(text, Loader=_named_loader(str(file)))  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(file)
        raise ConfigurationError(f"invalid YAML in {where}: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigurationError(f"invalid YAML in {file}: {type(exc).__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"settings file {file} must hold a mapping at the top level")
    return data


def key_line(path: Path, keys: Sequence[str | int]) -> int | None:
    """Return the 1-based line where the value at ``keys`` is written in a YAML file, if found.

    Only called to enrich an error message, so any failure gives None.
    """
    try:
        node = yaml.compose(_read(path), Loader=_Loader)  # a SafeLoader subclass
    except (ConfigurationError, yaml.YAMLError, RecursionError):
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)]
            if not found:
                return line
            line, node = found[-1][0].start_mark.line + 1, found[-1][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line
