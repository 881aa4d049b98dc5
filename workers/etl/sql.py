"""Calendar buckets as SQL expressions, spelt for PostgreSQL and for SQLite (the embedded default).

Everything else the ETL queries use (GROUP BY, ``FILTER (WHERE ...)``, window functions) is the
same on both: SQLite has had FILTER and window functions since 3.30.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class month_start(FunctionElement[Any]):
    """The first instant of a timestamp's month: a cheap key to group a month's rows by."""

    type = DateTime()
    name = "month_start"
    inherit_cache = True


class year_month(FunctionElement[str]):
    """``'2024-03'``: the calendar month of a timestamp."""

    type = String()
    name = "year_month"
    inherit_cache = True


class month_number(FunctionElement[int]):
    """``year * 12 + month``: months apart subtract to their distance in months."""

    type = Integer()
    name = "month_number"
    inherit_cache = True


class year_quarter(FunctionElement[str]):
    """``'2024-Q1'``: the calendar quarter of a timestamp."""

    type = String()
    name = "year_quarter"
    inherit_cache = True


def _arg(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(month_start)
def _month_start_pg(element: month_start, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {_arg(element, compiler, **kw)})"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-01', {_arg(element, compiler, **kw)})"


@compiles(year_month)
def _year_month_pg(element: year_month, compiler: Any, **kw: Any) -> str:
    return f"to_char({_arg(element, compiler, **kw)}, 'YYYY-MM')"


@compiles(year_month, "sqlite")
def _year_month_sqlite(element: year_month, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {_arg(element, compiler, **kw)})"


@compiles(month_number)
def _month_number_pg(element: month_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"CAST(EXTRACT(YEAR FROM {x}) * 12 + EXTRACT(MONTH FROM {x}) AS INTEGER)"


@compiles(month_number, "sqlite")
def _month_number_sqlite(element: month_number, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(CAST(strftime('%Y', {x}) AS INTEGER) * 12 + CAST(strftime('%m', {x}) AS INTEGER))"


@compiles(year_quarter)
def _year_quarter_pg(element: year_quarter, compiler: Any, **kw: Any) -> str:
    return f"""to_char({_arg(element, compiler, **kw)}, 'YYYY-"Q"Q')"""


@compiles(year_quarter, "sqlite")
def _year_quarter_sqlite(element: year_quarter, compiler: Any, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    return f"(strftime('%Y', {x}) || '-Q' || ((CAST(strftime('%m', {x}) AS INTEGER) + 2) / 3))"
