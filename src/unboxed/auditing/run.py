"""`audit(model, data)`: the stages in order, each timed, with a progress bar."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from ..dataset import Dataset
from ..errors import InputError
from .cases import choose_cases
from .findings import findings
from .named_categories import with_named_categories
from .global_view import global_view
from .local_view import explain_cases
from .overview import overview
from .plan import AuditSettings, chosen_methods
from .predictions import predict
from .provenance import provenance
from .result import Audit
from .subject import Subject, sample_rows
from .trust import assess

STAGES = ("model and data", "global view", "cases", "local view", "trust", "findings")


def audit(model: Any, data: Any = None, *, labels: Any = None, name: str | None = None, methods=None, cases: int = 2,
          budget: int | str | None = None, global_rows: int = 100, sanity: bool = True, seed: int = 0, task: str | None = None,
          show_progress: bool = True, command: str | None = None) -> Audit:
    """Audit `model` on `data`: what it relies on, why it decided as it did on chosen cases, and
    how far each explanation can be trusted. Returns an `Audit` (`.save(folder)` writes the HTML
    report and the raw results; in a notebook it shows itself).

    `model`: a zoo name ("breast_cancer_mlp"), a `Subject`, a `ZooModel`, a loaded model file
    (`unboxed.loading.load_model`) or any model `unboxed.adapt` takes. `data`: a `Dataset`
    (`unboxed.loading.load_data`), or a tensor / list of texts with `labels`; not needed for zoo
    models (their held-out data). `methods`, `cases`, `budget`, `global_rows`, `sanity` and
    `seed`: see `AuditSettings`. `command`: the command line to record (the CLI passes it).

    >>> result = audit("breast_cancer_mlp", methods=["kernel_shap", "saliency"], cases=1, budget=64,
    ...                global_rows=8, sanity=False, show_progress=False)
    >>> [case.kind for case in result.cases]
    ['confident right', 'confident wrong', 'borderline']
    """
    from tqdm.auto import tqdm

    settings = AuditSettings(methods=methods, cases=cases, budget=budget, global_rows=global_rows, sanity=sanity, seed=seed)
    subject = as_subject(model, data, labels=labels, name=name, task=task)
    timings: dict[str, float] = {}
    bar = tqdm(total=len(STAGES), desc=f"audit {subject.name}", unit="stage", disable=not show_progress)

    def stage(label: str):
        bar.set_postfix_str(label)
        return time.perf_counter()

    def done(label: str, started: float):
        timings[label] = time.perf_counter() - started
        bar.update(1)

    started = stage("model and data")
    predictions = predict(subject)
    facts = overview(subject, predictions)
    method_names, notes = chosen_methods(subject, settings)
    if isinstance(settings.budget, str):
        notes.append(budget_from_time(settings, subject, method_names))
    done("model and data", started)

    started = stage("global view")
    view = global_view(subject, settings, sample_rows(len(subject.data), settings.global_rows, settings.seed))
    done("global view", started)

    started = stage("cases")
    chosen = choose_cases(predictions, settings.cases)
    done("cases", started)

    started = stage("local view")
    runs = explain_cases(subject, chosen, method_names, settings, on_method=lambda m: bar.set_postfix_str(f"local view: {m}"))
    done("local view", started)

    started = stage("trust")
    trust = assess(subject, chosen, runs, settings, on_step=lambda text: bar.set_postfix_str(f"trust: {text}"))
    done("trust", started)

    started = stage("findings")
    found = findings(subject, facts, view, chosen, runs, trust)
    record = provenance(subject, settings, {r.name: r.settings for r in runs}, command)
    done("findings", started)
    bar.close()
    return Audit(subject=subject, settings=settings, facts=facts, global_view=view, cases=chosen, runs=runs, trust=trust,
                 findings=found, provenance=record, timings=timings, notes=notes,
                 predictions=predictions)


def budget_from_time(settings: AuditSettings, subject: Subject, methods: list[str]) -> str:
    """Replace a time budget in `settings` by samples per case; returns the sentence the report shows."""
    from .plan import STOCHASTIC
    from .time_budget import parse_duration, samples_for

    seconds = parse_duration(settings.budget)
    sampling = sum(1 for name in methods if name in STOCHASTIC)
    samples = samples_for(seconds, subject, sampling, 3 * settings.cases, settings.global_rows)
    text = settings.budget
    settings.budget = samples
    return (f"budget {text}: {samples} model evaluations per case for the sampling methods, sized from a timed "
            "call of the model to use part of it; gradient methods and their checks are not scaled by it")


def as_subject(model: Any, data: Any = None, labels: Any = None, name: str | None = None, task: str | None = None) -> Subject:
    """A `Subject` from any of the forms `audit` takes."""
    from .. import zoo
    from ..zoo.base import ZooModel

    if isinstance(model, Subject):
        return model
    if isinstance(model, str):
        if data is not None:
            raise InputError("a zoo model is audited on its own held-out data; give a model object to audit other data")
        return Subject.from_zoo(zoo.load(model))
    if isinstance(model, ZooModel):
        return Subject.from_zoo(model)
    source, notes = {}, []
    loaded = getattr(model, "model", None) if type(model).__name__ == "LoadedModel" else None
    if loaded is not None:
        source = {"format": model.format, "file": model.source, **({"sha256": model.sha256} if model.sha256 else {})}
        notes, model = list(model.notes), loaded
    if data is None:
        raise InputError("give the data to audit the model on (a Dataset from unboxed.loading.load_data, or inputs with labels=)")
    dataset = data if isinstance(data, Dataset) else _dataset(data, labels)
    name = name or dataset_name(model)
    model, named = with_named_categories(model, dataset)
    notes += [named] if named else []
    return Subject.create(name, model, dataset, task=task, source=source, notes=notes)


def _dataset(inputs: Any, labels: Any) -> Dataset:
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
        layout, values = "text", list(inputs)
    else:
        values = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs).float()
        layout = {2: "tabular", 3: "sequence", 4: "image"}.get(values.ndim)
        if layout is None:
            raise InputError(f"inputs of shape {tuple(values.shape)}: expected a table (rows, columns), sequences "
                             "(n, channels, steps) or images (n, channels, height, width)")
    label_tensor = None if labels is None else torch.as_tensor(np.asarray(labels))
    if label_tensor is not None and len(label_tensor) != len(values):
        raise InputError(f"{len(label_tensor)} labels for {len(values)} inputs")
    return Dataset(values, layout, labels=label_tensor, source="given in memory")


def dataset_name(model: Any) -> str:
    return type(model).__name__
