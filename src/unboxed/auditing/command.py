"""`unboxed audit`: the audit from the command line — a report folder, a summary table, exit codes that mean something.

Exit status: 0 when the report is written; 2 with one line `error: ...` on bad input (a missing
file, an unknown column, a model that does not fit the data, a pickle without --trust-pickle).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_ZOO = "breast_cancer_mlp"
LABEL_NAMES = {"target", "label", "labels", "class", "y", "outcome"}
TABLE_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}
# `make demo`'s audits: a medical table, a credit table (categorical), ImageNet photos.
DEMO_AUDITS = ("breast_cancer_mlp", "german_credit_mlp", "efficientnet_lite0")


def audit_command(
    ctx: typer.Context,
    zoo: Annotated[Optional[str], typer.Option(help="audit a zoo model on its held-out data (default: breast_cancer_mlp "
                                                     "when no --model is given)")] = None,
    model: Annotated[Optional[str], typer.Option(help="your model: pkg.module:factory (or path/file.py:factory), a "
                                                       "TorchScript .pt, a torch.export .pt2, an .onnx or a .skops file")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="safetensors weights for a model given by import path")] = None,
    data: Annotated[Optional[Path], typer.Option(help="your data: a .csv/.parquet table, a folder of images, or a .txt "
                                                      "file of one text per line")] = None,
    target: Annotated[Optional[str], typer.Option(help="tables: the label column")] = None,
    features: Annotated[Optional[str], typer.Option(help="tables: the model's input columns, comma-separated, in order")] = None,
    categorical: Annotated[Optional[str], typer.Option(help="tables: columns to read as categories (coded 0..k-1)")] = None,
    preset: Annotated[Optional[str], typer.Option(help="images: preprocessing preset (imagenet or digits)")] = None,
    transform: Annotated[Optional[str], typer.Option(help="images: import path of your preprocessing function")] = None,
    labels: Annotated[Optional[Path], typer.Option(help="texts: a file of one label per line")] = None,
    task: Annotated[Optional[str], typer.Option(help="classification or regression (default: inferred)")] = None,
    methods: Annotated[Optional[str], typer.Option(help="comma-separated local attribution methods (default: chosen "
                                                        "for the data and the model)")] = None,
    cases: Annotated[int, typer.Option(min=1, help="cases of each kind to explain (confident right, confident wrong, "
                                                   "borderline)")] = 2,
    budget: Annotated[Optional[str], typer.Option(help="model evaluations per case for sampling methods (default: "
                                                       "500 tables, 200 images, 300 texts), or a time: 90s, 5m")] = None,
    seed: Annotated[int, typer.Option(help="seed of every random choice (same seed, same numbers)")] = 0,
    sanity: Annotated[bool, typer.Option(help="run the randomisation sanity checks")] = True,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="allow loading a pickle/joblib model file "
                                                                      "(it can run any code: only for files you trust)")] = False,
    out: Annotated[Path, typer.Option(help="folder for report.html and the raw results")] = Path("audit"),
    progress: Annotated[bool, typer.Option(help="show a progress bar per stage")] = True,
) -> None:
    """Audit a model on data: what it relies on, why it decided as it did on chosen cases, and how far
    each explanation can be trusted. Writes OUT/report.html (self-contained) and the raw results."""
    from ..cli import split_names, user_errors
    from .run import audit

    with user_errors():
        subject = _subject(zoo, model, weights, data, target, features, categorical, preset, transform, labels, task,
                           trust_pickle)
        result = audit(subject, methods=split_names(methods), cases=cases, budget=budget, seed=seed, sanity=sanity,
                       show_progress=progress, command=command_of(ctx))
        paths = result.save(out)
    typer.echo(result.summary())
    warnings = [f for f in result.findings if f.kind == "warning"]
    for finding in warnings:
        typer.echo(f"warning: {finding.text}")
    typer.echo(f"report written to {paths['report']} ({sum(result.timings.values()):.0f} s)")


def command_of(ctx: typer.Context) -> str:
    """The command that re-runs this audit: `unboxed audit` and every option that differs from its
    default (so it reads the same whether typed in a shell or run from Python)."""
    import shlex

    words = ["unboxed", ctx.info_name or "audit"]
    for parameter in ctx.command.params:
        value = ctx.params.get(parameter.name)
        if value == parameter.default or value is None or parameter.name == "progress":
            continue
        if isinstance(value, bool):
            words.append(parameter.opts[0] if value else parameter.secondary_opts[0])
        else:
            words += [parameter.opts[0], str(value)]
    return shlex.join(words)


def _subject(zoo, model, weights, data, target, features, categorical, preset, transform, labels, task, trust_pickle):
    from .. import zoo as zoo_models
    from ..cli import split_names
    from ..errors import InputError
    from .run import as_subject

    if zoo is not None and (model is not None or data is not None):
        raise InputError("give either --zoo NAME, or --model with --data, not both")
    if model is None:
        if data is not None:
            raise InputError("--data needs --model (or leave both out to audit a zoo model)")
        return as_subject(zoo_models.load(zoo or DEFAULT_ZOO))
    if data is None:
        raise InputError("--model needs --data: the rows, images or texts to audit it on")
    from ..loading import load_data, load_model

    loaded = load_model(model, weights=weights, trust_pickle=trust_pickle)
    inferred = target is None and features is None and infer_target_column(data)
    options = {"target": target or inferred or None, "features": split_names(features),
               "categorical": split_names(categorical), "preset": preset, "transform": transform, "labels": labels}
    dataset = load_data(data, **{k: v for k, v in options.items() if v is not None})
    subject = as_subject(loaded, dataset, name=Path(str(model).split(":")[0]).stem or str(model), task=task)
    if inferred:
        subject.notes.append(f"the label column was taken to be {inferred!r} (by its name); give --target to choose another")
    return subject


def infer_target_column(path: Path) -> str | None:
    """The label column of a table file when one has a usual label name (target, label, class, y, ...),
    so `--target` can be left out; None for other files or names.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
    >>> _ = open(path, "w").write("a,b,Label\\n1,2,0\\n")
    >>> infer_target_column(Path(path)), infer_target_column(Path("photos"))
    ('Label', None)
    """
    from ..loading.tables import read_frame

    if Path(path).suffix.lower() not in TABLE_SUFFIXES or not Path(path).is_file():
        return None
    columns = list(read_frame(Path(path)).columns)
    found = [c for c in columns if str(c).strip().lower() in LABEL_NAMES]
    return str(found[0]) if len(found) == 1 else None


def demo_audits(out: Path, progress: bool = True, budget: int | None = None, cases: int = 2,
                models: tuple[str, ...] = DEMO_AUDITS) -> dict[str, Path]:
    """Audit each demo zoo model into `out/<name>/`; returns the report paths (for `unboxed demo`)."""
    from .. import zoo
    from .provenance import command_line
    from .run import as_subject, audit

    reports = {}
    for name in models:
        result = audit(as_subject(zoo.load(name)), budget=budget, cases=cases, show_progress=progress,
                       command=command_line(["unboxed", "audit", "--zoo", name]))
        reports[name] = result.save(out / name)["report"]
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.timings.items())
        typer.echo(f"audit of {name}: {reports[name]} ({stages})")
    return reports
