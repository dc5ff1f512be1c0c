"""Read a CSV or Parquet table into a tabular Dataset: the label column, the model's input columns, category codes."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ..dataset import Dataset
from ..errors import InputError

MAX_GUESSED_CLASSES = 20  # an integer label column with at most this many distinct values is taken as classes
TASKS = ("classification", "regression")
_PARQUET = (".parquet", ".pq")


def read_table(
    path: str | Path, target: str | None = None, features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None, categories: dict[str, Sequence[str]] | None = None,
    class_names: Sequence[str] | None = None, task: str | None = None, id_column: str | None = None,
    dropna: bool = False, sep: str | None = None,
) -> Dataset:
    """A CSV/TSV/Parquet file as a tabular Dataset whose inputs are a float32 tensor (rows, features).

    `target` names the label column; `features` the model's input columns, in the model's order
    (default: every column but the target and `id_column`). `categorical` columns become codes
    0..k-1 into the sorted category names (default: the non-numeric columns); `categories` fixes the
    names for some columns (the model's training categories) so the codes match the model's. The
    label is taken as classes when it is not numeric or holds at most 20 distinct whole numbers,
    else as a regression target; `task` overrides the guess. `class_names` fixes the class order:
    the label values are looked up in it, or, when they are whole numbers 0..k-1, index it.
    Rows with missing values are refused, or dropped and listed in `skipped` with `dropna=True`.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "loans.csv")
    >>> _ = open(path, "w").write("income,city,paid\\n3.5,Bonn,yes\\n2.0,Kiel,no\\n4.5,Bonn,yes\\n")
    >>> data = read_table(path, target="paid")
    >>> data.inputs.tolist(), data.categories, data.class_names, data.labels.tolist()
    ([[3.5, 0.0], [2.0, 1.0], [4.5, 0.0]], {'city': ['Bonn', 'Kiel']}, ['no', 'yes'], [1, 0, 1])
    """
    path = Path(path)
    frame = read_frame(path, sep)
    target_column, id_col, feature_columns = _resolve_columns(frame, path, target, features, id_column)
    frame, skipped = _handle_missing(frame, path, [*feature_columns, *([target_column] if target_column else [])], dropna)
    encoded, used_categories = _encode_features(frame[feature_columns], path, categorical, categories)
    labels, names, task = (None, None, None) if target_column is None else _labels(frame[target_column], path, task, class_names)
    return Dataset(
        inputs=torch.tensor(encoded, dtype=torch.float32), layout="tabular", labels=labels,
        feature_names=list(feature_columns), class_names=names,
        sample_names=None if id_col is None else _names(frame[id_col]).tolist(),
        categories=used_categories, source=str(path), target_name=target_column, skipped=skipped,
        facts={"rows_read": len(frame) + len(skipped), **({"task": task} if task else {})},
    )


def read_frame(path: Path, sep: str | None = None) -> pd.DataFrame:
    """The file as a pandas frame (string column names); a file that cannot be parsed -> InputError."""
    if not path.is_file():
        raise InputError(f"no file at {path}")
    try:
        if path.suffix.lower() in _PARQUET:
            frame = pd.read_parquet(path).reset_index(drop=True)
        else:
            frame = pd.read_csv(path, sep=sep or ("\t" if path.suffix.lower() == ".tsv" else ","))
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty: expected a header line and at least one row") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        raise InputError(f"{path} could not be read as a table: {_first_line(error)}") from None
    frame.columns = [str(column) for column in frame.columns]
    if len(frame) == 0:
        raise InputError(f"{path} has no rows (columns: {', '.join(frame.columns)})")
    if len(frame.columns) == 1 and sep is None and ";" in frame.columns[0]:
        raise InputError(f"{path} looks separated by ';', not ','; pass sep=';'")
    return frame


def _resolve_columns(frame, path, target, features, id_column) -> tuple[str | None, str | None, list[str]]:
    available = list(frame.columns)
    for role, column in (("target", target), ("id", id_column)):
        if column is not None and column not in available:
            raise InputError(f"{path} has no {role} column {column!r}; columns: {', '.join(available)}")
    if features is None:
        features = [column for column in available if column not in (target, id_column)]
    features = [str(column) for column in features]
    missing = [column for column in features if column not in available]
    if missing:
        raise InputError(f"{path} lacks the feature column(s) {', '.join(map(repr, missing))}; columns: {', '.join(available)}")
    if target in features:
        raise InputError(f"the target column {target!r} cannot also be a feature column")
    if not features:
        raise InputError(f"{path}: no feature columns left besides the target and id columns")
    return target, id_column, features


def _handle_missing(frame, path, columns, dropna) -> tuple[pd.DataFrame, list[str]]:
    holes = frame[columns].isna()
    rows = holes.any(axis=1)
    if not rows.any():
        return frame, []
    if not dropna:
        counts = holes.sum()
        where = ", ".join(f"{column!r} ({int(counts[column])} rows)" for column in columns if counts[column])
        raise InputError(
            f"{path}: {int(rows.sum())} rows have missing values, in column(s) {where}; "
            "fill them in, or pass dropna=True to drop those rows"
        )
    skipped = [
        f"{path} row {position + 1}: missing {', '.join(column for column in columns if holes.iloc[position][column])}"
        for position in np.flatnonzero(rows.to_numpy())
    ]
    kept = frame[~rows].reset_index(drop=True)
    if len(kept) == 0:
        raise InputError(f"{path}: every row has missing values; nothing left after dropna")
    return kept, skipped


def _encode_features(frame, path, categorical, fixed) -> tuple[np.ndarray, dict[str, list[str]]]:
    fixed = {str(column): [str(name) for name in names] for column, names in (fixed or {}).items()}
    strangers = [column for column in [*(categorical or []), *fixed] if column not in frame.columns]
    if strangers:
        raise InputError(f"categorical column(s) {', '.join(map(repr, strangers))} are not among the features {list(frame.columns)}")
    if categorical is None:
        categorical = [column for column in frame.columns if not _is_number(frame[column])]
    coded = set(categorical) | set(fixed)
    columns, used = [], {}
    for column in frame.columns:
        if column in coded:
            names = fixed.get(column) or _sorted_names(frame[column])
            columns.append(_codes(frame[column], names, path, column))
            used[column] = names
        elif _is_number(frame[column]):
            columns.append(frame[column].to_numpy(dtype=np.float64))
        else:
            example = frame[column].iloc[0]
            raise InputError(f"{path}: column {column!r} is not numeric (e.g. {example!r}); "
                             "list it in categorical=, or pass it as id_column= if it names the rows")
    return np.stack(columns, axis=1), used


def _labels(series, path, task, class_names) -> tuple[torch.Tensor, list[str] | None, str]:
    if task is None:
        task = "classification" if class_names is not None or _looks_like_classes(series) else "regression"
    if task not in TASKS:
        raise InputError(f"task must be one of {TASKS}, got {task!r}")
    if task == "regression":
        if class_names is not None:
            raise InputError("class_names only apply to classification, but task='regression'")
        if not _is_number(series):
            raise InputError(f"{path}: target {series.name!r} is not numeric (e.g. {series.iloc[0]!r}), so it cannot be a regression target")
        return torch.tensor(series.to_numpy(dtype=np.float64), dtype=torch.float32), None, task
    if class_names is None:
        names = _sorted_names(series)
        return torch.tensor(_codes(series, names, path, series.name), dtype=torch.long), names, task
    names = [str(name) for name in class_names]
    return torch.tensor(_class_codes(series, names, path), dtype=torch.long), names, task


def _class_codes(series, names, path) -> np.ndarray:
    """Label values looked up in `names`, or, when they are whole numbers 0..k-1, used as indices into it."""
    values = _names(series)
    if values.isin(names).all():
        return _codes(series, names, path, series.name)
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().all() and (numbers % 1 == 0).all() and numbers.between(0, len(names) - 1).all():
        return numbers.to_numpy(dtype=np.int64)
    unknown = sorted(set(values) - set(names))[:5]
    raise InputError(f"{path}: target {series.name!r} holds {unknown}, which are not among class_names {names}")


def _codes(series, names, path, column) -> np.ndarray:
    index = {name: code for code, name in enumerate(names)}
    values = _names(series)
    codes = values.map(index)
    if codes.isna().any():
        unseen = sorted(set(values[codes.isna()]))
        raise InputError(
            f"{path}: column {column!r} holds {', '.join(map(repr, unseen[:5]))}{' ...' if len(unseen) > 5 else ''}, "
            f"not among its categories {names}"
        )
    return codes.to_numpy(dtype=np.int64)


def _sorted_names(series) -> list[str]:
    """Distinct values as names, in sorted order (numeric order for numbers)."""
    distinct = pd.Series(series.dropna().unique(), dtype=series.dtype)
    ordered = distinct.sort_values() if _is_number(series) else distinct.iloc[np.argsort(distinct.astype(str).to_numpy(), kind="stable")]
    return list(dict.fromkeys(_names(ordered)))


def _names(series) -> pd.Series:
    """Values as category names: whole floats without '.0' (a CSV with a hole reads 1 as 1.0)."""
    if _is_number(series) and not pd.api.types.is_integer_dtype(series):
        numbers = series.to_numpy(dtype=np.float64)
        if np.all(numbers % 1 == 0):  # a NaN fails this and keeps its plain name
            return pd.Series([str(int(v)) for v in numbers], index=series.index)
    return series.astype(str)


def _looks_like_classes(series) -> bool:
    if not _is_number(series):
        return True
    numbers = series.to_numpy(dtype=np.float64)
    return bool(np.all(numbers % 1 == 0)) and len(np.unique(numbers)) <= MAX_GUESSED_CLASSES


def _is_number(series) -> bool:
    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
