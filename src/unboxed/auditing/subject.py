"""Subject: what an audit looks at — a model, the data it is judged on, and what the task is."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..dataset import Dataset
from ..errors import InputError
from ..model import adapt

TASKS = ("classification", "regression")
BACKGROUND_ROWS = 50


@dataclass
class Subject:
    """A model and its data, checked to fit each other.

    `model`: a torch module or a black box (`unboxed.adapt` takes it); `data`: a `Dataset`; `task`:
    "classification" or "regression"; `background`: rows that maskers draw removed features from
    (tabular); `cam_layer`: the last convolutional layer (class activation maps); `source`: where
    the model came from (format, file, sha256) and `notes` the report should repeat.
    Build one with `Subject.create` (checks and infers) or `from_zoo`.

    >>> subject = Subject.create("tiny", torch.nn.Linear(3, 2), Dataset(torch.zeros(4, 3), "tabular"))
    >>> subject.task, subject.class_names, subject.black_box
    ('classification', ['0', '1'], False)
    """

    name: str
    model: Any
    data: Dataset
    task: str
    class_names: list[str]
    background: torch.Tensor | None = None
    cam_layer: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # The names the method-settings helpers read (shared with zoo models).
    @property
    def inputs(self):
        return self.data.inputs

    @property
    def labels(self):
        return self.data.labels

    @property
    def layout(self) -> str:
        return self.data.layout

    @property
    def feature_names(self):
        return self.data.feature_names

    @property
    def display(self):
        return self.data.display

    @property
    def sample_names(self):
        return self.data.sample_names

    @property
    def black_box(self) -> bool:
        return not adapt(self.model).has_gradients

    @classmethod
    def create(cls, name: str, model: Any, data: Dataset, task: str | None = None, class_names: list[str] | None = None,
               background: torch.Tensor | None = None, cam_layer: str | None = None, source: dict | None = None,
               notes: list[str] | None = None) -> "Subject":
        """Check that `model` runs on `data` and gives one score per class (or one value for
        regression); infer the task, class names and the CAM layer where not given."""
        if len(data) == 0:
            raise InputError(f"the data set {data.source or ''} is empty: nothing to audit".replace("  ", " "))
        width = output_width(model, data)
        task = task or infer_task(width, data.labels)
        if task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if task == "regression" and width != 1:
            raise InputError(f"a regression model must give one output per row; this one gives {width}")
        if task == "classification" and width == 1:
            raise InputError("the model gives one output per row, but the labels are classes: audit a classifier that "
                             "gives one score per class (for a single logit z, return torch.cat([-z, z], dim=1))")
        if task == "classification":
            class_names = _class_names(class_names or data.class_names, width, data.labels)
        if cam_layer is None and isinstance(model, nn.Module):
            cam_layer = last_conv_layer(model)
        notes = list(notes or [])
        if background is None and data.layout == "tabular":
            background = background_rows(data)
            notes.append(f"removed features are drawn from {len(background)} rows of the audited data itself "
                         "(no training rows were given)")
        return cls(name=name, model=model, data=data, task=task, class_names=list(class_names or []),
                   background=background, cam_layer=cam_layer, source=dict(source or {}), notes=notes)

    @classmethod
    def from_zoo(cls, zoo_model) -> "Subject":
        """A zoo model (`unboxed.zoo.load(name)`) and its held-out data."""
        layout = zoo_model.layout
        categories = zoo_model.facts.get("categories", {}) if isinstance(zoo_model.facts, dict) else {}
        data = Dataset(
            inputs=zoo_model.inputs, layout=layout, labels=zoo_model.labels, feature_names=zoo_model.feature_names,
            class_names=zoo_model.class_names, sample_names=zoo_model.sample_names, categories=categories,
            display=zoo_model.display, source=f"zoo:{zoo_model.name} (held-out data)",
            facts={"protected": list(zoo_model.facts.get("protected_attributes", []))},
        )
        facts = {k: v for k, v in zoo_model.facts.items() if isinstance(v, (int, float, str))}
        return cls.create(zoo_model.name, zoo_model.model, data, class_names=zoo_model.class_names,
                          background=zoo_model.background, cam_layer=zoo_model.cam_layer,
                          source={"format": "zoo", "name": zoo_model.name, **facts})

    def fingerprints(self) -> dict[str, str]:
        """Short hashes of the model's weights and of the data (inputs and labels), for the record."""
        return {"model": adapt(self.model).fingerprint(), "data": data_fingerprint(self.data)}


def output_width(model: Any, data: Dataset) -> int:
    """The model's outputs per row, checked on two rows: a clear error when it cannot run on the
    data or does not give a (rows, outputs) table."""
    adapter = adapt(model)
    probe = data.inputs[:2] if isinstance(data.inputs, torch.Tensor) else np.asarray(data.inputs[:2], dtype=str)
    try:
        batch = adapter.check_inputs(probe) if isinstance(probe, torch.Tensor) else probe
        outputs = adapter.outputs(batch)
    except Exception as error:  # the user's model failing on the user's data: say which, in one line
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        kind = "" if isinstance(error, InputError) else f"{type(error).__name__}: "
        raise InputError(f"the model cannot run on the data ({describe_inputs(data)}): {kind}{first_line}") from None
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != len(probe):
        raise InputError(f"the model's output has shape {tuple(outputs.shape)} for {len(probe)} rows; expected "
                         "(rows, classes) scores or (rows, 1) values")
    return int(outputs.shape[1])


def describe_inputs(data: Dataset) -> str:
    """'1000 rows x 20 columns', '6 images 3x224x224' or '12 texts'."""
    if data.layout == "text":
        return f"{len(data)} texts"
    shape = tuple(data.inputs.shape)
    if data.layout == "tabular":
        return f"{shape[0]} rows x {shape[1]} columns"
    kind = "images" if data.layout == "image" else "sequences"
    return f"{shape[0]} {kind} {'x'.join(map(str, shape[1:]))}"


def infer_task(width: int, labels: torch.Tensor | None) -> str:
    """Regression for one output or real-valued labels, else classification.

    >>> infer_task(1, None), infer_task(3, torch.tensor([0, 2])), infer_task(1, torch.tensor([0, 1]))
    ('regression', 'classification', 'classification')
    """
    if labels is not None and labels.is_floating_point():
        return "regression"
    if width == 1 and (labels is None or len(torch.unique(labels)) > 2):
        return "regression"
    return "classification"


def _class_names(given: list[str] | None, width: int, labels: torch.Tensor | None) -> list[str]:
    n_classes = max(width, 2)
    if labels is not None and not labels.is_floating_point() and len(labels) and int(labels.max()) >= n_classes:
        raise InputError(f"the labels go up to class {int(labels.max())} but the model gives scores for {width} "
                         f"class{'es' if width != 1 else ''}")
    if given is not None and len(given) >= n_classes:
        return [str(name) for name in given[:n_classes]]
    return [str(i) for i in range(n_classes)]


def background_rows(data: Dataset, count: int = BACKGROUND_ROWS, seed: int = 0) -> torch.Tensor:
    """Up to `count` rows of a table, drawn without replacement with `seed`, as the masking background.

    >>> background_rows(Dataset(torch.arange(10.0)[:, None], "tabular"), count=3).shape
    torch.Size([3, 1])
    """
    return data.inputs[torch.as_tensor(sample_rows(len(data), count, seed))]


def sample_rows(n: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct rows out of `n`, drawn with `seed` (all rows, in order, when count >= n).

    >>> sample_rows(5, 10, 0).tolist(), len(set(sample_rows(100, 10, 0)))
    ([0, 1, 2, 3, 4], 10)
    """
    if count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def last_conv_layer(model: nn.Module) -> str | None:
    """The name of the model's last 2-D convolution (where class activation maps are read), if any.

    >>> last_conv_layer(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)))
    '2'
    """
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    return names[-1] if names else None


def data_fingerprint(data: Dataset) -> str:
    """A short sha256 of the inputs (and labels): the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    if isinstance(data.inputs, torch.Tensor):
        digest.update(data.inputs.detach().cpu().contiguous().numpy().tobytes())
    else:
        digest.update("\n".join(data.inputs).encode())
    if data.labels is not None:
        digest.update(data.labels.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
