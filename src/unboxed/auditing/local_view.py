"""Stage 3b — the local view: every chosen case explained by each method, side by side."""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import UnboxedError
from ..explanation import Attribution, FeatureAttribution
from ..taxonomy import get_method
from .cases import Case
from .plan import AuditSettings, method_settings
from .subject import Subject


@dataclass
class MethodRun:
    """One method on the cases: its settings, result, time, or why it did not run."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    result: Attribution | None = None
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None


def case_inputs(subject: Subject, cases: list[Case]):
    """The inputs of the chosen cases, in the model's format."""
    rows = [case.row for case in cases]
    return subject.inputs[torch.as_tensor(rows)] if isinstance(subject.inputs, torch.Tensor) else [subject.inputs[r] for r in rows]


def case_targets(cases: list[Case], task: str) -> torch.Tensor | int:
    """What each case's explanations explain: the predicted class (or the one output of a regression)."""
    if task == "regression":
        return 0
    return torch.tensor([int(case.predicted) for case in cases])


def explain_cases(subject: Subject, cases: list[Case], methods: list[str], settings: AuditSettings,
                  on_method=None) -> list[MethodRun]:
    """Run each method once over all the cases (one batched call per method). A method that
    raises is recorded with its error and the others still run (the report lists it)."""
    inputs = case_inputs(subject, cases)
    target = case_targets(cases, subject.task)
    runs = []
    for name in methods:
        if on_method is not None:
            on_method(name)
        run = MethodRun(name)
        try:
            run.settings = method_settings(name, subject, settings)
            started = time.perf_counter()
            run.result = get_method(name)(subject.model, **run.settings).explain(inputs, target=target, **_names(subject, run))
            run.seconds = time.perf_counter() - started
        except UnboxedError as error:
            run.error = str(error)
        except Exception as error:  # one broken method must not lose the audit; the report names it
            run.error = f"{type(error).__name__}: {error}"
        runs.append(run)
    return runs


def _names(subject: Subject, run: MethodRun) -> dict[str, Any]:
    takes = "feature_names" in inspect.signature(get_method(run.name).explain).parameters
    masker = run.settings.get("masker")
    if takes and subject.feature_names is not None and getattr(masker, "groups", None) is None:
        return {"feature_names": subject.feature_names}
    return {}


def comparable_maps(result: Attribution, layout: str) -> np.ndarray:
    """An explanation as one row of numbers per case, comparable across methods: per-feature
    values for tables and texts, pixel relevance (|.| summed over channels) for images."""
    if layout == "text" and isinstance(result, FeatureAttribution):
        return np.asarray(result.values, dtype=np.float64)
    values = np.asarray(result.input_values(), dtype=np.float64)
    if layout == "image":
        if values.ndim == 4:
            values = np.abs(values).sum(1)
        return values.reshape(len(values), -1)
    return values.reshape(len(values), -1)
