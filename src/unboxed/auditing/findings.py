"""Stage 5 — findings in plain words, each generated from the numbers of the stages before.

A finding is (kind, text): "warning" for what a reader must not miss (a method that fails a
sanity check, a suspected shortcut, a model no better than guessing), "ok" for good news that is
earned by a measurement, "info" for the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases import Case
from .global_view import GlobalView
from .local_view import MethodRun
from .subject import Subject
from .trust import RANDOM, Trust

DOMINANT_SHARE = 0.5  # one input carrying this share of the total importance is worth a warning
EDGE_FACTOR = 2.0  # image relevance at the edges this many times their area share: a suspected shortcut
LOW_AGREEMENT, HIGH_AGREEMENT = 0.2, 0.7


@dataclass(frozen=True)
class Finding:
    kind: str  # "warning", "ok" or "info"
    text: str


def findings(subject: Subject, facts: dict, view: GlobalView, cases: list[Case], runs: list[MethodRun],
             trust: Trust) -> list[Finding]:
    """Everything the numbers say that a reader should hear, warnings first."""
    found = (_quality(subject, facts) + _reliance(subject, view) + _sanity(trust) + _faithfulness(trust)
             + _agreement(trust) + _cases(subject, cases) + _failures(runs))
    order = {"warning": 0, "ok": 1, "info": 2}
    return sorted(found, key=lambda f: order[f.kind])


def _quality(subject: Subject, facts: dict) -> list[Finding]:
    quality = facts.get("quality", {})
    if "accuracy" in quality:
        accuracy, majority = quality["accuracy"], quality["majority-class rate"]
        text = (f"The model is right on {accuracy:.1%} of the {facts['data']['rows']} rows (balanced accuracy "
                f"{quality['balanced accuracy']:.1%}); always answering the commonest class would score {majority:.1%}.")
        if accuracy <= majority + 0.02:
            return [Finding("warning", text + " It is hardly better than that: its explanations describe a model that has learned little.")]
        return [Finding("info", text)]
    if "r2" in quality:
        return [Finding("info", f"The model's R² on the given data is {quality['r2']:.3f} (RMSE {quality['rmse']:.4g}).")]
    return [Finding("info", "No labels were given, so the model's accuracy on this data is unknown.")]


def _reliance(subject: Subject, view: GlobalView) -> list[Finding]:
    frame, measure = view.importance, view.measure
    if frame.empty:
        return []
    if subject.layout == "image" and view.grid is not None:
        return _edges(view.grid)
    values = frame[measure].to_numpy(dtype=float)
    top = list(frame["feature"].head(3))
    noun = "words" if subject.layout == "text" else "inputs"
    out = [Finding("info", f"Overall it relies most on {_join(top)} ({measure}).")]
    positive = np.clip(values, 0, None)
    if positive.sum() > 0 and positive[0] / positive.sum() >= DOMINANT_SHARE and len(values) > 2:
        out.append(Finding("warning", f"One input dominates: {top[0]} carries {positive[0] / positive.sum():.0%} of the total "
                                      f"{measure}. Check that it is not a leak of the answer or a shortcut."))
    if subject.layout == "tabular" and measure == "permutation importance":
        unused = list(frame.loc[frame[measure] <= 0, "feature"])
        if unused:
            out.append(Finding("info", f"{len(unused)} of {len(frame)} {noun} make no difference to its score when "
                                       f"shuffled: {_join(unused[:6])}{' …' if len(unused) > 6 else ''}."))
    declared = [name for name in subject.data.facts.get("protected", []) if name in set(frame["feature"])]
    protected = [name for name in declared if name in top]
    if protected:
        out.append(Finding("warning", f"A protected attribute is among the three inputs it relies on most: {_join(protected)}. "
                                      "Examine its effect before the model is used on people."))
    elif declared:
        ranks = {name: int(np.flatnonzero(frame["feature"].to_numpy() == name)[0]) + 1 for name in declared}
        listed = ", ".join(f"{name} ranks {rank} of {len(frame)}" for name, rank in ranks.items())
        out.append(Finding("info", f"Protected attributes by {measure}: {listed}. Not among the top three; a fairness "
                                   "analysis (effects across groups) would still be needed before use on people."))
    return out


def _edges(grid: np.ndarray) -> list[Finding]:
    """Where in the frame the relevance lies: the border ring of cells against its share of the area."""
    share = grid / grid.sum() if grid.sum() > 0 else grid
    border = np.ones_like(grid, dtype=bool)
    border[1:-1, 1:-1] = False
    edge_share, edge_area = float(share[border].sum()), float(border.mean())
    row, column = np.unravel_index(int(np.argmax(share)), share.shape)
    where = f"the cell at row {row + 1}, column {column + 1} of a {grid.shape[0]}x{grid.shape[1]} grid holds {share[row, column]:.0%} of it"
    if edge_share >= EDGE_FACTOR * edge_area:
        return [Finding("warning", f"Suspected shortcut: {edge_share:.0%} of the model's overall relevance lies on the image's "
                                   f"border, which is {edge_area:.0%} of its area ({where}). Check for tags, frames or "
                                   "corner marks that give the answer away.")]
    return [Finding("info", f"Overall relevance is spread over the frame; {where}; the border holds {edge_share:.0%} "
                            f"of it for {edge_area:.0%} of the area.")]


def _sanity(trust: Trust) -> list[Finding]:
    out = []
    for _, row in trust.sanity.iterrows():
        if row["passed"]:
            continue
        if row["check"] == "model_parameter_randomisation":
            why = "while the model's weights are replaced by random ones, layer by layer from the top"
        else:
            why = "when a random other class is explained instead"
        out.append(Finding("warning", f"{row['method']} fails the {row['check'].replace('_', ' ')} sanity check: its maps keep a "
                                      f"similarity of {row['similarity']:.2f} to the original {why}, so they show the input "
                                      "more than what the model uses. Do not rely on it for this model."))
    passed = sorted(set(trust.sanity["method"]) - set(trust.failed_sanity())) if not trust.sanity.empty else []
    if passed:
        out.append(Finding("ok", f"{_join(passed)} pass{'es' if len(passed) == 1 else ''} every randomisation sanity check."))
    return out


def _faithfulness(trust: Trust) -> list[Finding]:
    """The most faithful method per metric; a method no better than a random map on every
    faithfulness metric is a warning, on some of them a note (one removal scheme can mislead:
    scattered grey patches hurt a photo's score more than removing the object does)."""
    out = []
    methods = [m for m in trust.scores.index if m != RANDOM]
    metrics = [m for m, c in trust.category.items() if c == "faithfulness"]
    for metric in metrics:
        scored = trust.scores.loc[methods, metric].dropna()
        if scored.empty:
            continue
        best = scored.idxmax() if trust.higher_is_better[metric] else scored.idxmin()
        floor = trust.scores.at[RANDOM, metric] if RANDOM in trust.scores.index else np.nan
        out.append(Finding("info", f"Most faithful by {metric}: {best} ({scored[best]:.3g}; a random map scores {floor:.3g}, "
                                   f"{'higher' if trust.higher_is_better[metric] else 'lower'} is better)."))
    verdicts = {m: [k for k in metrics if trust.beats_random(m, k) is False] for m in methods}
    always = [m for m, failed in verdicts.items() if failed and len(failed) == len(metrics)]
    sometimes = [m for m, failed in verdicts.items() if failed and len(failed) < len(metrics)]
    if always:
        out.append(Finding("warning", f"{_join(always)} do{'es' if len(always) == 1 else ''} no better than a random map on "
                                      f"any faithfulness measure ({', '.join(metrics)}): {'its' if len(always) == 1 else 'their'} "
                                      "ranking of the inputs does not match what changes the model's output."))
    for method in sometimes:
        out.append(Finding("info", f"{method} does no better than a random map on {_join(verdicts[method])} but beats it on "
                                   f"{_join([k for k in metrics if k not in verdicts[method]])}: read its maps with care."))
    return out


def _agreement(trust: Trust) -> list[Finding]:
    table = trust.agreement
    names = list(table.index)
    pairs = [(table.at[a, b], a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    if not pairs:
        return []
    low = [p for p in pairs if p[0] < LOW_AGREEMENT]
    high = [p for p in pairs if p[0] >= HIGH_AGREEMENT]
    out = []
    if low:
        listed = "; ".join(f"{a} and {b} (ρ = {v:.2f})" for v, a, b in sorted(low)[:4])
        out.append(Finding("warning", f"Methods disagree on what matters: {listed}. Where they do, believe the ones that pass "
                                      "the sanity checks and beat the random map on faithfulness."))
    if high:
        listed = "; ".join(f"{a} and {b} (ρ = {v:.2f})" for v, a, b in sorted(high, reverse=True)[:4])
        out.append(Finding("ok", f"Methods that agree: {listed}."))
    return out


def _cases(subject: Subject, cases: list[Case]) -> list[Finding]:
    wrong = [c for c in cases if c.kind == "confident wrong"]
    if not wrong:
        return []
    names = subject.class_names
    listed = "; ".join(f"row {c.row}: says {names[int(c.predicted)]} ({c.confidence:.0%}), truth {names[int(c.label)]}" for c in wrong)
    return [Finding("warning", f"It is confidently wrong on some rows ({listed}); their explanations below show why.")]


def _failures(runs: list[MethodRun]) -> list[Finding]:
    return [Finding("warning", f"{r.name} could not run: {r.error}") for r in runs if not r.ok]


def _join(items: list[str]) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""
