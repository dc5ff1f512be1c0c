"""The audit as one self-contained HTML page: findings first, then the six parts of the audit."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..report import Page
from .trust import RANDOM, SANITY_THRESHOLD

if TYPE_CHECKING:
    from .result import Audit

SECTIONS = {
    "findings": "Findings",
    "model-and-data": "The model and the data",
    "global-view": "What the model relies on overall",
    "local-view": "Chosen cases, explained",
    "trust": "How far each explanation can be trusted",
    "provenance": "How this report was made",
}
TOP_FEATURES = 15


def direction(higher_is_better: bool) -> str:
    """↑ when higher is better, ↓ when lower is.

    >>> direction(True) + direction(False)
    '↑↓'
    """
    return "↑" if higher_is_better else "↓"


def build_report(audit: "Audit") -> Page:
    """Every section of the report, in reading order."""
    subject = audit.subject
    page = Page(f"Audit of {subject.name}",
                subtitle=f"{subject.task} on {audit.facts['data']['inputs']} · {len(audit.cases)} cases · "
                         f"{len(audit.methods)} explanation methods · seed {audit.settings.seed}")
    _findings(page, audit)
    _model_and_data(page, audit)
    _global(page, audit)
    _local(page, audit)
    _trust(page, audit)
    _provenance(page, audit)
    return page


def _findings(page: Page, audit: "Audit") -> None:
    section = page.section("findings", SECTIONS["findings"])
    section.paragraph("What the numbers below say, in words. Each finding is generated from a measurement in this report.")
    for finding in audit.findings:
        section.callout(finding.text, finding.kind)
    for note in audit.notes:
        section.callout(note, "info", title="Left out")


def _model_and_data(page: Page, audit: "Audit") -> None:
    section = page.section("model-and-data", SECTIONS["model-and-data"])
    facts = audit.facts
    section.subsection("Model").facts(facts["model"])
    for note in audit.subject.notes:
        section.callout(note, "info")
    data = {k: v for k, v in facts["data"].items() if k != "skipped" and v not in ([], "", None)}
    section.subsection("Data").facts({**data, "task": facts["task"]})
    if facts["data"]["skipped"]:
        section.callout(f"{len(facts['data']['skipped'])} item(s) could not be read and were skipped: "
                        + "; ".join(facts["data"]["skipped"][:10]), "warning")
    if "quality" in facts:
        section.subsection("Quality on this data").facts(facts["quality"])
    if "class balance" in facts:
        balance = pd.DataFrame({"class": list(facts["class balance"]), "rows": list(facts["class balance"].values())})
        section.table(balance, caption="Class balance of the given data")
    if "confusion" in facts:
        names = [audit.subject.class_names[i] for i in range(len(facts["confusion"]))]
        confusion = pd.DataFrame(facts["confusion"], index=pd.Index([f"true {n}" for n in names], name="rows: truth"),
                                 columns=[f"said {n}" for n in names])
        section.table(confusion, caption="Confusion matrix (rows: the truth, columns: what the model said)")


def _global(page: Page, audit: "Audit") -> None:
    view = audit.global_view
    section = page.section("global-view", SECTIONS["global-view"])
    unit = {"image": "images", "text": "texts"}.get(audit.subject.layout, "rows")
    section.paragraph(f"Over {view.rows} {unit} of the data. " + " ".join(n[:1].upper() + n[1:] + "." for n in view.notes))
    if view.grid is not None:
        section.figure(_grid_figure(audit), "Mean |Shapley value| of each grid cell over the sampled images, drawn over "
                                            "their average: where in the frame the model looks.")
    else:
        section.figure(_importance_figure(view.importance, view.measure), f"Inputs ranked by {view.measure}.")
    section.details(f"The full table ({len(view.importance)} rows)").table(view.importance)


def _local(page: Page, audit: "Audit") -> None:
    from ..viz import plot_grid

    section = page.section("local-view", SECTIONS["local-view"])
    subject = audit.subject
    section.paragraph("Each row is one case, chosen by how the model did on it; each column, one explanation method, "
                      "explaining the class the model predicted. Red: evidence for it; blue: against.")
    cases = pd.DataFrame([{"row": c.row, "why chosen": c.kind, "predicted": _name(audit, c.predicted),
                           "confidence": c.confidence, "truth": _name(audit, c.label)} for c in audit.cases])
    section.table(cases, caption="The cases")
    if subject.layout == "tabular":
        section.details("The cases' input values").table(case_values(audit))
    results = {run.name: run.result for run in audit.runs if run.ok}
    if results:
        rows = [case.row for case in audit.cases]
        images = subject.display(subject.inputs[rows]) if subject.display is not None else None
        labels = [f"row {c.row}: {c.kind}\nsaid {_name(audit, c.predicted)}" for c in audit.cases]
        times = {run.name: f"{run.seconds:.1f} s" for run in audit.runs if run.ok}
        if subject.layout == "text":
            from ..viz import text_html

            for name, result in results.items():
                section.subsection(name).html("".join(text_html(result, i, title=labels[i]) for i in range(len(result))))
        else:
            figure = plot_grid(results, images=images, row_labels=labels, column_labels=times,
                               title=f"{subject.name}: each case explained by each method")
            section.figure(figure, "The cases (rows) explained by each method (columns); the time under each method is for all cases.")
    for run in audit.runs:
        if not run.ok:
            section.callout(f"{run.name} could not run: {run.error}", "bad")


def _trust(page: Page, audit: "Audit") -> None:
    from ..evaluate.compare import Comparison, plot_comparison

    trust = audit.trust
    section = page.section("trust", SECTIONS["trust"])
    section.paragraph("Every method is scored on the same cases. Faithfulness: does removing what the method calls "
                      "important change the model's output (deletion ↓: the score falls fast; insertion ↑: it comes back "
                      "fast)? Stability: do its answers hold under tiny input noise or another random seed? Sanity: do its "
                      "maps change when the model's weights, or the explained class, are replaced by random ones (they "
                      f"must; similarity above {SANITY_THRESHOLD} fails)? '{RANDOM}' is a random map: a method must beat it.")
    shown = trust.scores.rename(columns={m: f"{m} {direction(trust.higher_is_better[m])}" for m in trust.scores.columns})
    section.table(shown.reset_index(), caption="Mean score over the cases (↑ higher is better, ↓ lower is better)")
    comparison = Comparison(trust.scores, {}, trust.higher_is_better, trust.category)
    section.figure(plot_comparison(comparison), "Each metric's ranking of the methods (darkest = best).")
    if not trust.sanity.empty:
        sanity = trust.sanity.assign(verdict=np.where(trust.sanity["passed"], "passes", "FAILS")).drop(columns="passed")
        section.subsection("Sanity checks").table(
            sanity, caption="Similarity of each method's maps to the original after randomisation (lower is better)",
            highlight={"verdict": lambda row: "ok" if row["verdict"] == "passes" else "bad"})
    if len(trust.agreement) > 1:
        section.subsection("Do the methods agree?").figure(_agreement_figure(trust.agreement),
                                                          "Mean Spearman correlation of the methods' maps over the cases.")
    for note in trust.notes:
        section.callout(note, "info")


def _provenance(page: Page, audit: "Audit") -> None:
    record = audit.provenance
    section = page.section("provenance", SECTIONS["provenance"])
    section.paragraph("Run the command below with the same versions to get the same numbers.")
    if record.get("command"):
        section.code(record["command"])
    section.facts({"seed": record["seed"], **{f"{k} fingerprint": v for k, v in record["fingerprints"].items()},
                   "data source": record["data source"], "platform": record["platform"]})
    section.subsection("Versions").facts(record["versions"])
    settings = pd.DataFrame([{"method": name, "settings": ", ".join(f"{k}={v}" for k, v in chosen.items()) or "defaults"}
                             for name, chosen in record["method settings"].items()])
    section.subsection("Settings").facts({k: str(v) for k, v in record["settings"].items()}).table(settings)
    timings = pd.DataFrame({"stage": list(audit.timings), "seconds": list(audit.timings.values())})
    section.subsection("Time per stage").table(timings)


def case_values(audit: "Audit") -> pd.DataFrame:
    """One row per input column, one column per case: the values as the data gave them (category
    codes shown as their names)."""
    subject = audit.subject
    names = subject.feature_names or [f"x{i}" for i in range(subject.inputs.shape[1])]
    categories = subject.data.categories or {}
    columns = {}
    for case in audit.cases:
        row = subject.inputs[case.row].detach().cpu().numpy()
        columns[f"row {case.row}"] = [_shown(row[i], categories.get(name)) for i, name in enumerate(names)]
    return pd.DataFrame(columns, index=pd.Index(names, name="input"))


def _shown(value: float, categories: list[str] | None) -> str:
    if categories is not None and 0 <= round(float(value)) < len(categories):
        return str(categories[int(round(float(value)))])
    return f"{float(value):.4g}"


def _name(audit: "Audit", value) -> str:
    if value is None:
        return "—"
    if audit.subject.task == "classification":
        return audit.subject.class_names[int(value)]
    return f"{float(value):.4g}"


def _importance_figure(frame: pd.DataFrame, measure: str) -> Figure:
    top = frame.head(TOP_FEATURES).iloc[::-1]
    columns = [c for c in ("permutation importance", "mean |shapley|") if c in top.columns]
    figure = Figure(figsize=(4.2 * len(columns) + 1.5, 0.8 + 0.3 * len(top)), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(columns), sharey=True))
    for ax, column in zip(axes, columns):
        errors = top["permutation std"] if column == "permutation importance" and "permutation std" in top else None
        ax.barh(top["feature"].astype(str), top[column], xerr=errors, color="#4c72b0" if column == measure else "#8c8c8c")
        ax.set_title(column + (" (score lost when shuffled)" if column == "permutation importance" else ""), fontsize=9)
        ax.axvline(0, color="#444", linewidth=0.6)
        ax.tick_params(labelsize=8)
    return figure


def _grid_figure(audit: "Audit") -> Figure:
    subject, grid = audit.subject, audit.global_view.grid
    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = figure.subplots()
    if subject.display is not None:
        mean_image = subject.display(subject.inputs[: min(len(subject.inputs), 64)]).mean(0)
        ax.imshow(mean_image, extent=(0, grid.shape[1], grid.shape[0], 0))
    shown = ax.imshow(grid, cmap="magma", alpha=0.65, extent=(0, grid.shape[1], grid.shape[0], 0))
    figure.colorbar(shown, ax=ax, shrink=0.8, label="mean |Shapley value|")
    ax.set_xticks([])
    ax.set_yticks([])
    return figure


def _agreement_figure(agreement: pd.DataFrame) -> Figure:
    names = list(agreement.index)
    figure = Figure(figsize=(1.6 + 0.9 * len(names), 1.2 + 0.7 * len(names)), layout="constrained")
    ax = figure.subplots()
    shown = ax.imshow(agreement.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{agreement.iat[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    figure.colorbar(shown, ax=ax, shrink=0.8, label="Spearman ρ")
    return figure
