"""Audit: the result of `unboxed.audit` — every stage's numbers, the report, and saving them."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .cases import Case
from .findings import Finding
from .global_view import GlobalView
from .local_view import MethodRun
from .plan import AuditSettings
from .predictions import Predictions
from .subject import Subject
from .trust import Trust

REPORT = "report.html"


@dataclass
class Audit:
    """What an audit found. `facts` (model and data), `global_view`, `cases` and the `runs` of each
    method on them, `trust` (scores, sanity checks, agreement), `findings` (plain words),
    `provenance` (how to re-run it), `timings` per stage in seconds, `notes` (what was left out;
    what the report must say about the model and data is in `subject.notes`).

    `save(folder)` writes `report.html` (self-contained) and the raw results beside it;
    `numbers()` is every number as JSON-ready data (the same seed gives the same numbers);
    `summary()` is the terminal's table.
    """

    subject: Subject
    settings: AuditSettings
    facts: dict[str, Any]
    global_view: GlobalView
    cases: list[Case]
    runs: list[MethodRun]
    trust: Trust
    findings: list[Finding]
    provenance: dict[str, Any]
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    predictions: Predictions = None

    @property
    def methods(self) -> list[str]:
        return [run.name for run in self.runs if run.ok]

    def numbers(self) -> dict[str, Any]:
        """Every number the audit computed (no timings), JSON-ready."""
        return _plain({
            "facts": self.facts,
            "global": {"measure": self.global_view.measure, "importance": self.global_view.importance.to_dict("list"),
                       "grid": self.global_view.grid},
            "cases": [asdict(case) for case in self.cases],
            "explanations": {run.name: np.asarray(run.result.values) for run in self.runs if run.ok},
            "trust": {"scores": self.trust.per_case, "sanity": self.trust.sanity.to_dict("records"),
                      "agreement": self.trust.agreement.to_dict()},
            "findings": [asdict(f) for f in self.findings],
            "provenance": {k: v for k, v in self.provenance.items() if k != "command"},
        })

    def report(self):
        """The report as a `unboxed.report.Page`."""
        from .report import build_report

        return build_report(self)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write `report.html`, `results.json` (all numbers, timings, notes), Parquet tables
        (global importance, trust scores per case, agreement, cases) and each method's
        explanation (`explanations/<method>.npz`, read back with `unboxed.load`). Returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"report": self.report().write(folder / REPORT), "results": folder / "results.json"}
        results = {**self.numbers(), "timings": self.timings, "notes": self.notes + self.subject.notes,
                   "command": self.provenance.get("command")}
        results.pop("explanations")
        paths["results"].write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
        for name, frame in self.tables().items():
            paths[name] = folder / f"{name}.parquet"
            frame.to_parquet(paths[name], index=False)
        for run in self.runs:
            if run.ok:
                paths[f"explanation {run.name}"] = run.result.save(folder / "explanations" / f"{run.name}.npz")
        return paths

    def tables(self) -> dict[str, pd.DataFrame]:
        """The raw tables: global importance, per-case trust scores, agreement, cases, predictions."""
        scores = pd.DataFrame([{"method": method, "metric": metric, "case": i, "score": float(value)}
                               for method, metrics in self.trust.per_case.items()
                               for metric, values in metrics.items() for i, value in enumerate(values)],
                              columns=["method", "metric", "case", "score"])
        agreement = self.trust.agreement.reset_index(names="method")
        return {"global_importance": self.global_view.importance, "trust_scores": scores, "agreement": agreement,
                "cases": pd.DataFrame([asdict(case) for case in self.cases]), "predictions": self.prediction_table()}

    def prediction_table(self) -> pd.DataFrame:
        """One row per audited input: the label (if known), the prediction, and every output of the model."""
        p = self.predictions
        columns = {"row": np.arange(len(p.predicted)), **({"label": p.labels} if p.labels is not None else {}),
                   "predicted": p.predicted}
        values = p.probabilities if p.probabilities is not None else p.outputs
        prefix = "probability" if p.probabilities is not None else "output"
        names = self.subject.class_names if p.probabilities is not None else [str(i) for i in range(values.shape[1])]
        labels = [f"{prefix} {name}" for name in names] if len(set(names)) == len(names) else \
            [f"{prefix} {i} {name}" for i, name in enumerate(names)]  # ImageNet names repeat ("crane")
        columns.update({label: values[:, i] for i, label in enumerate(labels)})
        return pd.DataFrame(columns)

    def summary(self) -> str:
        """A plain-text table for the terminal: each method's trust scores, sanity verdict and time."""
        from ..gallery import format_duration
        from .report import direction

        table = self.trust.scores
        header = ["method"] + [f"{m} {direction(self.trust.higher_is_better[m])}" for m in table.columns] + ["sanity", "time"]
        failed = set(self.trust.failed_sanity())
        checked = set(self.trust.sanity["method"]) if not self.trust.sanity.empty else set()
        rows = []
        for method in table.index:
            cells = [f"{v:.3g}" if np.isfinite(v) else "-" for v in table.loc[method]]
            verdict = "FAILS" if method in failed else ("passes" if method in checked else "-")
            seconds = next((r.seconds for r in self.runs if r.name == method), None)
            rows.append([method] + cells + [verdict, "-" if seconds is None else format_duration(seconds)])
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in [header, *rows]]
        lines.append("↑ higher is better, ↓ lower is better; stages: "
                     + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.timings.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()

    def __repr__(self) -> str:
        warnings = sum(f.kind == "warning" for f in self.findings)
        return (f"Audit({self.subject.name!r}: {len(self.cases)} cases x {len(self.methods)} methods, "
                f"{warnings} warning{'s' if warnings != 1 else ''})")


def _plain(value: Any) -> Any:
    """numpy and pandas values as JSON-ready Python values (NaN as None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    return value
