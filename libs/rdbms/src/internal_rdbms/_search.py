"""Text search that means the same on PostgreSQL, MySQL/MariaDB and SQLite.

``LIKE`` does not: MariaDB compares under the column's collation (case- and accent-insensitive by
default) and SQLite's ``LIKE`` ignores ASCII case. :class:`TextMatch` compiles per dialect so that

- case-sensitive search matches exact code points everywhere (``LIKE`` on PostgreSQL, ``LIKE`` under
  ``utf8mb4_bin`` on MySQL/MariaDB, ``instr``/``substr`` on SQLite);
- case-insensitive search compares ``lower(column)`` with ``lower(term)`` by code point, so accents are
  never folded; ``lower()`` folds non-ASCII letters on PostgreSQL (both sides under the database's
  default collation, whatever the column's own, e.g. ``"C"``), MySQL/MariaDB, and SQLite connections
  opened by :class:`~internal_rdbms.Database` (which installs a per-code-point Unicode ``lower``).

The term is one bound parameter; ``%``, ``_`` and ``/`` in it are escaped in SQL, so they match literally.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeAlias

from sqlalchemy import Boolean, ColumnElement, Integer, String, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["SearchMode", "TextMatch"]

SearchMode: TypeAlias = Literal["contains", "startswith", "endswith"]
_ESCAPE: Final = "/"
_PG_FOLDING: Final = "default"


class TextMatch(ColumnElement[bool]):
    """``column`` contains / starts with / ends with ``term``, with or without case folding."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own class-level traversal spec
        ("column", InternalTraversal.dp_clauseelement),
        ("term", InternalTraversal.dp_clauseelement),
        ("mode", InternalTraversal.dp_string),
        ("case_sensitive", InternalTraversal.dp_boolean),
    ]

    def __init__(
        self,
        column: ColumnElement[Any] | InstrumentedAttribute[Any],
        term: str,
        mode: SearchMode,
        *,
        case_sensitive: bool,
    ) -> None:
        self.column: ColumnElement[Any] = column.expression
        self.term = literal(term, type_=String())
        self.mode = mode
        self.case_sensitive = case_sensitive

    def pattern(self) -> ColumnElement[str]:
        """The ``LIKE`` pattern, escaped in SQL: ``'%' || replace(...) || '%'``."""
        escaped: ColumnElement[str] = func.replace(
            func.replace(func.replace(self.term, "/", "//", type_=String()), "%", "/%", type_=String()),
            "_",
            "/_",
            type_=String(),
        )
        if self.mode in ("contains", "endswith"):
            escaped = literal("%", type_=String()) + escaped
        if self.mode in ("contains", "startswith"):
            escaped = escaped + literal("%", type_=String())
        return escaped


@compiles(TextMatch)
def _compile_default(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column: ColumnElement[Any] = element.column
    pattern = element.pattern()
    if not element.case_sensitive:
        column, pattern = func.lower(column), func.lower(pattern)
    return compiler.process(column.like(pattern, escape=_ESCAPE), **kw)


@compiles(TextMatch, "postgresql")
def _compile_postgresql(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    if element.case_sensitive:
        return _compile_default(element, compiler, **kw)
    # lower() folds under its argument's collation: ASCII only for a column declared ``COLLATE "C"``,
    # every letter for the term. Both sides under the database's default collation fold alike.
    column = func.lower(element.column.collate(_PG_FOLDING))
    pattern = func.lower(element.pattern().collate(_PG_FOLDING))
    return compiler.process(column.like(pattern, escape=_ESCAPE), **kw)


@compiles(TextMatch, "mysql")
@compiles(TextMatch, "mariadb")
def _compile_mysql(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    # Both sides in utf8mb4 under its binary collation: code points, not collation weights (no case
    # or accent folding), whatever the column's own charset (``LIKE BINARY`` would compare latin1
    # bytes with utf8mb4 bytes).
    column = f"CONVERT({compiler.process(element.column, **kw)} USING utf8mb4)"
    pattern = f"CONVERT({compiler.process(element.pattern(), **kw)} USING utf8mb4)"
    if not element.case_sensitive:
        column, pattern = f"lower({column})", f"lower({pattern})"
    return f"{column} COLLATE utf8mb4_bin LIKE {pattern} COLLATE utf8mb4_bin ESCAPE '{_ESCAPE}'"


@compiles(TextMatch, "sqlite")
def _compile_sqlite(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    if not element.case_sensitive:  # LIKE ignores ASCII case; lower() (Unicode via Database) the rest
        return _compile_default(element, compiler, **kw)
    # SQLite's LIKE ignores ASCII case whatever the collation: compare substrings by code point.
    column, term = element.column, element.term
    condition: ColumnElement[bool]
    if element.mode == "contains":
        condition = func.instr(column, term, type_=Integer()) > 0
    elif element.mode == "startswith":
        condition = func.substr(column, 1, func.length(term), type_=String()).collate("BINARY") == term
    else:
        condition = func.substr(column, -func.length(term), type_=String()).collate("BINARY") == term
    return compiler.process(condition, **kw)
