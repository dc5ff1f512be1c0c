"""Read a text file, one example per line, into a text Dataset, with labels from a second file."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..dataset import Dataset
from ..errors import InputError


def read_texts(path: str | Path, labels: str | Path | None = None, class_names: Sequence[str] | None = None) -> Dataset:
    """One example per line of a UTF-8 file; blank lines are skipped and listed in `skipped`.

    `labels` is a file with one label per line: either one per line of the text file (the labels of
    blank lines are dropped with them) or one per example. Class names are the distinct labels,
    sorted (numerically when they are all whole numbers), or `class_names` in the model's order.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "reviews.txt"), "w").write("a gem\\n\\nso dull\\n")
    >>> _ = open(os.path.join(folder, "labels.txt"), "w").write("pos\\nneg\\n")
    >>> data = read_texts(os.path.join(folder, "reviews.txt"), os.path.join(folder, "labels.txt"))
    >>> data.inputs, data.class_names, data.labels.tolist(), data.skipped
    (['a gem', 'so dull'], ['neg', 'pos'], [1, 0], ['reviews.txt line 2: blank'])
    """
    path = Path(path)
    lines = _lines(path)
    kept = [number for number, line in enumerate(lines) if line.strip()]
    if not kept:
        raise InputError(f"{path} holds no text (one example per line expected)")
    skipped = [f"{path.name} line {number + 1}: blank" for number, line in enumerate(lines) if not line.strip()]
    codes, names = (None, None) if labels is None else _labels(Path(labels), path, lines, kept, class_names)
    return Dataset(
        inputs=[lines[number] for number in kept], layout="text", labels=codes, class_names=names,
        sample_names=[f"line {number + 1}" for number in kept], source=str(path), skipped=skipped,
        facts={"texts": len(kept)},
    )


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(f"no file at {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text (byte {error.start} cannot be decoded); save it as UTF-8") from None
    return text.splitlines()


def _labels(labels_path, path, lines, kept, class_names) -> tuple[torch.Tensor, list[str]]:
    values = [value.strip() for value in _lines(labels_path)]
    while values and not values[-1]:  # a trailing blank line is no label
        values.pop()
    if len(values) == len(lines):
        values = [values[number] for number in kept]
    elif len(values) != len(kept):
        raise InputError(
            f"{labels_path} has {len(values)} labels, but {path} has {len(kept)} texts on {len(lines)} lines; "
            "give one label per line or per text"
        )
    if not all(values):
        raise InputError(f"{labels_path} has a blank label for text {values.index('') + 1}")
    names = [str(name) for name in class_names] if class_names is not None else _sorted(set(values))
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise InputError(f"{labels_path} holds labels {unknown[:5]} that are not among class_names {names}")
    return torch.tensor([names.index(value) for value in values], dtype=torch.long), names


def _sorted(names: set[str]) -> list[str]:
    whole = all(name.lstrip("-").isdigit() for name in names)
    return sorted(names, key=int) if whole else sorted(names)
