"""Stage 4 — trust: how far each method's explanations of the cases can be believed.

Every method shown is scored on the same cases by faithfulness (deletion and insertion curves, or
comprehensiveness and sufficiency for texts), stability (max-sensitivity to small input noise for
deterministic methods, top-k agreement across seeds for sampling methods) and the randomisation
sanity checks (cascading model-parameter randomisation for torch models, random logit for
classifiers). A seeded random explanation is scored too, as the floor a method must beat. A
method fails a sanity check when its maps stay similar to the original although the model (or the
explained class) was replaced by a random one: it then shows the input, not what the model uses.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from ..evaluate import (Comprehensiveness, Deletion, Insertion, MaxSensitivity, ModelParameterRandomisation, RandomLogit,
                        SeedStability, Sufficiency, spearman)
from ..evaluate.base import Metric
from ..maskers import ImageMasker, TabularMasker
from ..model import adapt
from ..taxonomy import get_method
from .cases import Case
from .local_view import MethodRun, case_inputs, case_targets, comparable_maps
from .plan import STOCHASTIC, AuditSettings
from .subject import Subject

RANDOM = "random (reference)"
SANITY_THRESHOLD = 0.5  # mean Spearman similarity to the original map above which a randomisation check fails
CHECKPOINTS = 3
PATCHES = (16, 16)  # images are removed in a 16x16 grid of patches by the faithfulness curves  # explained steps of the parameter-randomisation cascade (top layer ... whole model)


@dataclass
class Trust:
    """`scores`: methods (and the random reference) x metrics, each the mean over the cases;
    `per_case`: every score; `higher_is_better` and `category` per metric; `sanity`: one row per
    (method, check) with the similarity that remained and whether it passed; `agreement`: mean
    Spearman correlation of the methods' maps per pair; `seconds` per method; `notes`."""

    scores: pd.DataFrame
    per_case: dict[str, dict[str, list[float]]]
    higher_is_better: dict[str, bool]
    category: dict[str, str]
    sanity: pd.DataFrame
    agreement: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def failed_sanity(self) -> list[str]:
        """Methods that fail at least one randomisation sanity check."""
        if self.sanity.empty:
            return []
        return sorted(set(self.sanity.loc[~self.sanity["passed"], "method"]))

    def beats_random(self, method: str, metric: str) -> bool | None:
        """Whether `method` scores better than the random reference on `metric` (None: not scored)."""
        if metric not in self.scores.columns or RANDOM not in self.scores.index:
            return None
        ours, floor = self.scores.at[method, metric], self.scores.at[RANDOM, metric]
        if not (np.isfinite(ours) and np.isfinite(floor)):
            return None
        return bool(ours > floor) if self.higher_is_better[metric] else bool(ours < floor)


def faithfulness_metrics(subject: Subject) -> list[Metric]:
    """Deletion and insertion (removing what a table's background rows would, or blanking square
    patches of an image: single pixels in random order wreck a photo's statistics so fast that
    even a random map scores well); comprehensiveness and sufficiency for texts."""
    if subject.layout == "text":
        return [Comprehensiveness(), Sufficiency()]
    removal: Any = ImageMasker(segmentation="grid", grid=PATCHES, fill=0.0) if subject.layout == "image" else 0.0
    steps = 20
    if subject.layout == "tabular":
        steps = min(steps, int(subject.inputs.shape[1]))
        if subject.background is not None:
            removal = TabularMasker(subject.background, feature_names=subject.feature_names)
    return [Deletion(removal=removal, steps=steps), Insertion(removal=removal, steps=steps)]


def stability_metric(subject: Subject, method: str, settings: AuditSettings) -> Metric | None:
    """Seed stability for sampling methods; max-sensitivity for the others on numeric inputs."""
    top_k = 0.1 if subject.layout == "image" else 5
    if subject.layout == "tabular":
        top_k = max(1, min(top_k, int(subject.inputs.shape[1]) // 2))
    if method in STOCHASTIC:
        return SeedStability(n_seeds=3, k=top_k, seed=settings.seed)
    if subject.layout == "text" or subject.data.categories:
        return None  # noise on words or category codes means nothing
    scale = float(subject.inputs.float().std()) if isinstance(subject.inputs, torch.Tensor) else 1.0
    return MaxSensitivity(radius=0.02 * scale, n_samples=5, seed=settings.seed)


def sanity_metrics(subject: Subject, settings: AuditSettings) -> list[Metric]:
    """The randomisation checks that apply: parameter randomisation needs a torch model, random logit a classifier."""
    if not settings.sanity:
        return []
    checks: list[Metric] = []
    if not subject.black_box:
        checks.append(ModelParameterRandomisation(checkpoints=CHECKPOINTS, seed=settings.seed))
    if subject.task == "classification" and len(subject.class_names) >= 2:
        checks.append(RandomLogit(absolute=False, seed=settings.seed))  # signed: a 2-class model's other logit is the mirror
    return checks


def assess(subject: Subject, cases: list[Case], runs: list[MethodRun], settings: AuditSettings,
           on_step: Callable[[str], None] | None = None) -> Trust:
    """Score every method that ran on the cases (see the module's docstring)."""
    adapter = adapt(subject.model)
    inputs = case_inputs(subject, cases)
    target = case_targets(cases, subject.task)
    faithfulness = faithfulness_metrics(subject)
    sanity_checks = sanity_metrics(subject, settings)
    per_case: dict[str, dict[str, list[float]]] = {}
    higher, category, seconds, notes = {}, {}, {}, []
    sanity_rows = []
    for run in [r for r in runs if r.ok]:
        started = time.perf_counter()
        explainer = get_method(run.name)(subject.model, **run.settings)
        scored = per_case.setdefault(run.name, {})
        stability = stability_metric(subject, run.name, settings)
        for metric in faithfulness + ([stability] if stability is not None else []):
            _step(on_step, f"{run.name}: {metric.name}")
            given = run.result if metric.needs_explanation else None  # seed stability makes its own runs
            result = metric.evaluate(adapter, inputs, target=target, explanation=given, method=explainer)
            scored[metric.name] = result.scores.tolist()
            higher[metric.name], category[metric.name] = result.higher_is_better, metric.category
        for check in sanity_checks:
            _step(on_step, f"{run.name}: {check.name}")
            result = check.evaluate(adapter, inputs, target=target, explanation=run.result, method=explainer)
            similarity = float(np.mean(result.scores))  # parameter randomisation: the mean over the cascade's steps
            scored[check.name] = result.scores.tolist()
            higher[check.name], category[check.name] = False, check.category
            sanity_rows.append({"method": run.name, "check": check.name, "similarity": similarity,
                                "passed": similarity <= SANITY_THRESHOLD, "what": _check_meaning(check, result)})
        seconds[run.name] = time.perf_counter() - started
    per_case[RANDOM] = _random_reference(subject, adapter, inputs, target, faithfulness, runs, settings)
    if not sanity_checks:
        notes.append("randomisation sanity checks were not run" + (" (sanity=False)" if not settings.sanity else ""))
    methods = list(per_case)
    metrics = list(dict.fromkeys(m for scores in per_case.values() for m in scores))
    table = pd.DataFrame([[float(np.mean(per_case[m][k])) if k in per_case[m] else np.nan for k in metrics] for m in methods],
                         index=pd.Index(methods, name="method"), columns=metrics)
    sanity = pd.DataFrame(sanity_rows, columns=["method", "check", "similarity", "passed", "what"])
    return Trust(scores=table, per_case=per_case, higher_is_better=higher, category=category, sanity=sanity,
                 agreement=agreement(runs, subject.layout), seconds=seconds, notes=notes)


def _step(on_step, text: str) -> None:
    if on_step is not None:
        on_step(text)


def _check_meaning(check: Metric, result) -> str:
    if check.name == "model_parameter_randomisation":
        layers = result.details.get("layers", [])
        return f"weights randomised from the top layer down; mean similarity after randomising {', '.join(layers)} in turn"
    return "a random other class explained instead"


def _random_reference(subject: Subject, adapter, inputs, target, metrics: list[Metric], runs: list[MethodRun],
                      settings: AuditSettings) -> dict[str, list[float]]:
    """Faithfulness scores of a seeded random explanation shaped like the first method's."""
    template = next((r.result for r in runs if r.ok), None)
    if template is None:
        return {}
    generator = np.random.default_rng(settings.seed)
    if subject.layout == "text":
        noise = generator.standard_normal(np.shape(template.values))
    else:
        noise = generator.standard_normal(tuple(inputs.shape))
    scores = {}
    for metric in metrics:
        scores[metric.name] = metric.evaluate(adapter, inputs, target=target, explanation=noise).scores.tolist()
    return scores


def agreement(runs: list[MethodRun], layout: str) -> pd.DataFrame:
    """Mean (over cases) Spearman correlation between every two methods' maps; 1 on the diagonal.

    >>> agreement([], "tabular").shape
    (0, 0)
    """
    ok = [r for r in runs if r.ok]
    names = [r.name for r in ok]
    maps = {r.name: comparable_maps(r.result, layout) for r in ok}
    table = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            width = min(maps[a].shape[1], maps[b].shape[1])
            value = float(spearman(maps[a][:, :width], maps[b][:, :width]).mean())
            table.at[a, b] = table.at[b, a] = value
    return table
