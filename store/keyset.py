"""Keyset reads for paged lists (see ``actors/pagination.py``).

A :class:`Keyset` names the columns of a list's unique sort key and renders the two
pieces its query needs: the ``ORDER BY`` list and the condition that resumes after a key,
a row-value comparison (``(name, id) > (%(after_0)s, %(after_1)s)``) that an index on the
same columns serves. Values always travel as parameters; column names are identifiers.
"""

from __future__ import annotations

import msgspec
from psycopg import sql

from actors.pagination import SortKey


class Keyset:
    """A unique sort key: ``columns`` ascending (or all descending), last one unique."""

    def __init__(self, *columns: str, descending: bool = False) -> None:
        if not columns:
            raise ValueError("a keyset needs at least one column")
        self._columns = [sql.Identifier(*column.split(".")) for column in columns]
        self._descending = descending

    @property
    def order_by(self) -> sql.Composable:
        direction = sql.SQL(" DESC" if self._descending else "")
        return sql.SQL(", ").join(sql.Composed([c, direction]) for c in self._columns)

    def after(self, key: SortKey | None) -> tuple[sql.Composable, dict[str, object]]:
        """``AND (columns) > (key)`` (``<`` when descending) and its parameters; nothing
        (always true) for ``None``, the first page."""
        if key is None:
            return sql.SQL(""), {}
        values = msgspec.structs.astuple(key)
        if len(values) != len(self._columns):
            raise ValueError(f"{type(key).__name__} does not match {len(self._columns)} columns")
        names = [f"after_{i}" for i in range(len(values))]
        condition = sql.SQL(" AND ({columns}) {op} ({values})").format(
            columns=sql.SQL(", ").join(self._columns),
            op=sql.SQL("<" if self._descending else ">"),
            values=sql.SQL(", ").join(sql.Placeholder(n) for n in names),
        )
        return condition, dict(zip(names, values, strict=True))

    def page(
        self, query: sql.SQL, key: SortKey | None, **parts: sql.Composable
    ) -> tuple[sql.Composed, dict[str, object]]:
        """``query`` with ``{after}`` and ``{order_by}`` filled in (and any other
        ``parts``), and the parameters of ``{after}``."""
        condition, params = self.after(key)
        return query.format(after=condition, order_by=self.order_by, **parts), params
