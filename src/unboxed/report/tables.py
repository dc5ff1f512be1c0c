"""pandas DataFrames as HTML tables for the report: numbers right-aligned and rounded, every cell escaped.

`format_value` is the one rule for showing a value: floats with 3 significant digits (whole-number
digits are never dropped: 1,235 rather than 1,230; very small or very large values in scientific
notation), integers as they are, booleans as yes/no, missing values as an em dash.
"""
from __future__ import annotations

import html
import math
import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

MISSING = "\u2014"
# Classes a cell may be flagged with (the page's CSS styles each; a typo is an error, not an unstyled cell).
CELL_FLAGS = ("ok", "warning", "bad")

Highlight = Callable[[pd.Series], "str | None"]


def format_number(value: float, digits: int = 3) -> str:
    """`value` with `digits` significant digits, keeping every whole-number digit.

    >>> [format_number(x) for x in (0.123456, 1.0, 1234.5678, -0.00012345, 2.5e-7, 3.2e12, 0.0)]
    ['0.123', '1.00', '1,235', '-0.000123', '2.50e-07', '3.20e+12', '0']
    """
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if value == 0:
        return "0"
    scientific = f"{value:.{digits - 1}e}"
    exponent = int(scientific.split("e")[1])  # of the rounded value: 999.7 -> 1.00e+03
    if exponent < -4 or exponent >= 12:
        return scientific
    return f"{value:,.{max(0, digits - 1 - exponent)}f}"


def format_value(value: Any, digits: int = 3) -> str:
    """How the report shows one value (not yet HTML-escaped).

    >>> [format_value(v) for v in (0.98765, 42, True, None, float("nan"), "mean radius")]
    ['0.988', '42', 'yes', '—', '—', 'mean radius']
    """
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return format_number(float(value), digits)
    return str(value)


def as_frame(table: Any) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a Series or a list of row dicts.

    >>> as_frame([{"feature": "age", "importance": 0.3}]).columns.tolist()
    ['feature', 'importance']
    """
    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, pd.Series):
        return table.to_frame()
    if isinstance(table, Sequence) and not isinstance(table, str) and all(isinstance(row, Mapping) for row in table):
        return pd.DataFrame(list(table))
    raise InputError(
        f"a report table must be a pandas DataFrame, a Series or a list of row dicts, not {type(table).__name__}"
    )


def table_html(
    table: Any,
    caption: str | None = None,
    formats: Mapping[str, Any] | None = None,
    highlight: Mapping[str, Highlight] | None = None,
    digits: int = 3,
) -> str:
    """`<table>` (in a horizontally scrolling wrapper) showing `table`; every text is escaped.

    Numeric columns are right-aligned (class `num`) and formatted by `format_value`, unless
    `formats` gives the column a format string (`"{:.1%}"`, or a bare spec `".1%"`) or a
    function value -> text. The index is shown (as the first columns) only if it is named.
    `highlight` maps a column to a function of the whole row (a Series; `row.name` is the index
    label) that returns a flag from `CELL_FLAGS` (or None) for that row's cell.

    >>> frame = pd.DataFrame({"method": ["saliency", "guided backprop"], "passes": [True, False]})
    >>> out = table_html(frame, highlight={"passes": lambda row: None if row["passes"] else "bad"})
    >>> "<td class='bad'>no</td>" in out
    True
    """
    frame = as_frame(table)
    formats, highlight = dict(formats or {}), dict(highlight or {})
    _check_columns(frame, formats, "formats")
    _check_columns(frame, highlight, "highlight")
    shown = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    columns = [_column_label(column) for column in shown.columns]
    numeric = [_is_numeric(shown.iloc[:, j]) for j in range(shown.shape[1])]

    head = "".join(f"<th{_class(['num'] if numeric[j] else [])} scope='col'>{html.escape(label)}</th>"
                   for j, label in enumerate(columns))
    body = [_row_html(frame, shown, i, columns, numeric, formats, highlight, digits) for i in range(len(shown))]
    if not body:
        body = [f"<tr><td class='empty' colspan='{max(1, len(columns))}'>no rows</td></tr>"]
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<div class='table-wrap'><table>{caption_html}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _row_html(frame, shown, i, columns, numeric, formats, highlight, digits) -> str:
    cells = []
    for j, label in enumerate(columns):
        value = shown.iat[i, j]
        text = _formatted(value, formats.get(shown.columns[j]), digits, label)
        flag = _flag(highlight[shown.columns[j]], frame.iloc[i], label) if shown.columns[j] in highlight else None
        classes = (["num"] if numeric[j] else []) + ([flag] if flag else [])
        cells.append(f"<td{_class(classes)}>{html.escape(text)}</td>")
    return f"<tr>{''.join(cells)}</tr>"


def _formatted(value, fmt, digits: int, column: str) -> str:
    if fmt is None or _is_missing(value):
        return format_value(value, digits)
    try:
        if callable(fmt):
            return str(fmt(value))
        return fmt.format(value) if "{" in fmt else format(value, fmt)
    except (ValueError, TypeError) as error:
        raise InputError(f"the format {fmt!r} of column {column!r} cannot show the value {value!r}: {error}") from None


def _flag(rule: Highlight, row: pd.Series, column: str) -> str | None:
    flag = rule(row)
    if flag and flag not in CELL_FLAGS:
        raise InputError(f"highlight of column {column!r} returned {flag!r}; a cell flag is one of {', '.join(CELL_FLAGS)} or None")
    return flag or None


def _check_columns(frame: pd.DataFrame, named: Mapping, argument: str) -> None:
    unknown = [column for column in named if column not in frame.columns]
    if unknown:
        have = ", ".join(_column_label(column) for column in frame.columns)
        raise InputError(f"{argument} names column {unknown[0]!r} that the table does not have (its columns: {have})")


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and math.isnan(value)


def _column_label(column: Any) -> str:
    if isinstance(column, tuple):  # MultiIndex columns
        return " / ".join(str(part) for part in column if str(part))
    return str(column)


def _class(classes: list[str]) -> str:
    return f" class='{' '.join(classes)}'" if classes else ""
