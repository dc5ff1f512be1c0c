"""load_data: one entry point for the user's own data, choosing the reader by what the path is."""
from __future__ import annotations

import inspect
from pathlib import Path

from ..dataset import Dataset
from ..errors import InputError
from .images import read_image_folder
from .tables import read_table
from .texts import read_texts

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
TEXT_SUFFIXES = (".txt",)
KINDS = "a folder of pictures, a table (.csv, .tsv, .parquet, .pq) or a text file (.txt, one example per line)"


def load_data(path, **options) -> Dataset:
    """Read `path` with the reader for its kind: a folder -> pictures, a table file -> rows, a .txt -> texts.

    `options` go to that reader (`read_image_folder`, `read_table`, `read_texts`); an option the
    reader does not take is refused with the list of those it does.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
    >>> _ = open(path, "w").write("x,y\\n1,0\\n2,1\\n")
    >>> load_data(path, target="y").inputs.tolist()
    [[1.0], [2.0]]
    >>> load_data(path, preset="digits")
    Traceback (most recent call last):
    unboxed.errors.InputError: option 'preset' does not apply to tables; their options: target, features, categorical, categories, class_names, task, id_column, dropna, sep
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"no file or folder at {path}")
    reader, kind = _reader_for(path)
    accepted = list(inspect.signature(reader).parameters)[1:]
    unknown = [name for name in options if name not in accepted]
    if unknown:
        raise InputError(
            f"option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"{'do' if len(unknown) > 1 else 'does'} not apply to {kind}; their options: {', '.join(accepted)}"
        )
    return reader(path, **options)


def _reader_for(path: Path):
    if path.is_dir():
        return read_image_folder, "picture folders"
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return read_table, "tables"
    if suffix in TEXT_SUFFIXES:
        return read_texts, "text files"
    raise InputError(f"cannot read {path.name}: unboxed reads {KINDS}; a single picture goes in a folder")
