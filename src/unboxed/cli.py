"""The `unboxed` command: browse the method catalogue, explain one zoo input, audit a model, build the gallery.

    unboxed methods [--engagement E] [--format F] [--scope S] [--access A]
    unboxed explain --model digits_cnn --method integrated_gradients [--index 3] [--target 7] [--setting n_steps=64]
    unboxed evaluate --model digits_cnn --methods saliency,grad_cam --metrics deletion,sparseness --samples 8 --out evaluation
    unboxed audit --zoo breast_cancer_mlp --out audit          (or --model FILE --data FILE)
    unboxed demo --out reports

Mistakes in what was asked (unknown names, bad settings) print one line `error: ...` and exit
with status 2; no traceback.
"""
from __future__ import annotations

import ast
import inspect
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from .errors import InputError, UnboxedError

app = typer.Typer(
    name="unboxed",
    help="Open up deep-learning models: attributions and more, each measured for faithfulness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

COLUMNS = ("name", "engagement", "format", "scope", "access", "summary")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an UnboxedError into `error: <message>` on stderr and exit status 2."""
    try:
        yield
    except UnboxedError as error:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None


def format_table(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Left-aligned plain-text columns with a header line.

    >>> print(format_table([{"name": "a", "x": "long"}], ("name", "x")))
    name  x
    a     long
    """
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


AxisOption = Optional[list[str]]


@app.command("methods")
def methods_command(
    engagement: Annotated[AxisOption, typer.Option(help="passive or active (repeat for several)")] = None,
    format: Annotated[AxisOption, typer.Option(help="attribution, rules, hidden-semantics, examples, counterfactual, causal")] = None,
    scope: Annotated[AxisOption, typer.Option(help="local, semi-local or global")] = None,
    access: Annotated[AxisOption, typer.Option(help="black-box, gradients or internals")] = None,
) -> None:
    """List the method catalogue, filtered on any axis of the taxonomy."""
    from .taxonomy import methods

    with user_errors():
        found = methods(engagement=engagement, format=format, scope=scope, access=access)
    if not found:
        typer.echo("no method matches these filters")
        return
    typer.echo(format_table([info.as_dict() for info in found]))


def parse_setting(text: str) -> tuple[str, object]:
    """`key=value` -> (key, value); the value is read as a Python literal (numbers, tuples, True, None) or kept as text.

    >>> parse_setting("window=(1, 4, 4)"), parse_setting("rule=riemann_left"), parse_setting("absolute=False")
    (('window', (1, 4, 4)), ('rule', 'riemann_left'), ('absolute', False))
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise InputError(f"a setting must look like key=value, got {text!r}")
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        value = raw.strip()
    return key, value


def check_settings(method: str, settings: dict) -> None:
    """Reject settings the method's constructor does not take, naming the ones it does."""
    from .taxonomy import get_method

    parameters = inspect.signature(get_method(method).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    known = [name for name in parameters if name not in ("self", "model")]
    for key in settings:
        if key not in parameters or key in ("self", "model"):
            raise InputError(f"{method} has no setting {key!r}; its settings are: {', '.join(known) or 'none'}")


def resolve_cli_target(target: Optional[str], class_names: list[str]):
    """None, a class index, or a class name (exact, case-insensitive) -> a class index or None."""
    if target is None:
        return None
    try:
        return int(target)
    except ValueError:
        pass
    lowered = [name.lower() for name in class_names]
    if target.lower() in lowered:
        return lowered.index(target.lower())
    import difflib

    close = difflib.get_close_matches(target.lower(), lowered, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(class_names[lowered.index(c)] for c in close)}?" if close else ""
    raise InputError(f"target {target!r} is neither a class index nor a class name of this model{hint}")


@app.command("explain")
def explain_command(
    model: Annotated[str, typer.Option(help="zoo model: efficientnet_lite0, digits_cnn, breast_cancer_mlp, rotten_tomatoes_logreg, ...")],
    method: Annotated[str, typer.Option(help="a registered method (see `unboxed methods`)")],
    index: Annotated[int, typer.Option(help="which held-out sample of the zoo model (local methods)")] = 0,
    target: Annotated[Optional[str], typer.Option(help="class index or name to explain (default: the predicted class)")] = None,
    out: Annotated[Path, typer.Option(help="folder for the picture and the raw result")] = Path("explanations"),
    setting: Annotated[
        Optional[list[str]], typer.Option(help="method setting key=value (repeatable); overrides the gallery defaults")
    ] = None,
) -> None:
    """Explain one zoo model input with one method: writes a PNG picture and the raw result (.npz).

    Global methods (permutation importance) explain the model over all its held-out data instead.
    """
    from . import zoo
    from .gallery import describe_setting, explain_zoo, gallery_settings, take
    from .taxonomy import Scope, get_method

    with user_errors():
        explainer_class = get_method(method)
        zoo_model = zoo.load(model)
        n = len(zoo_model.inputs)
        if not -n <= index < n:
            raise InputError(f"index {index} is out of range: {model} has {n} held-out samples (0..{n - 1})")
        index = index % n
        overrides = dict(parse_setting(text) for text in setting or [])
        check_settings(method, overrides)
        settings = {**gallery_settings(method, zoo_model), **overrides}
        inputs = take(zoo_model.inputs, [index])
        class_target = resolve_cli_target(target, zoo_model.class_names)
        result = explain_zoo(zoo_model, explainer_class.info, settings, inputs, target=class_target)
    shown = ", ".join(f"{k}={describe_setting(v)}" for k, v in settings.items()) or "defaults"
    if explainer_class.info.scope is Scope.GLOBAL:
        _write_global(result, model, method, shown, out)
    else:
        _write_local(result, zoo_model, model, method, index, inputs, shown, out)


def _write_local(attribution, zoo_model, model: str, method: str, index: int, inputs, shown: str, out: Path) -> None:
    from .gallery import sample_labels
    from .viz import figure_to_png, plot_single, text_html

    stem = f"{model}_{method}_{index}"
    label = sample_labels(zoo_model, [index], inputs)[0]
    explained = attribution.target[0] if isinstance(attribution.target, list) else attribution.target
    title = method
    if isinstance(explained, int) and 0 <= explained < len(zoo_model.class_names):
        label += f"\nexplaining {zoo_model.class_names[explained]} (score {float(attribution.scores[0]):.3g})"
        title = f"{method}: {zoo_model.class_names[explained]}"
    image = zoo_model.display(inputs)[0] if zoo_model.display is not None and attribution.layout == "image" else None
    figure = plot_single(attribution, 0, image=image, label=label, title=title)
    picture = figure_to_png(figure, out / f"{stem}.png")
    raw = attribution.save(out / f"{stem}.npz")
    typer.echo(f"{method} on {model}[{index}] ({shown}): {label.replace(chr(10), '; ')}")
    if attribution.delta is not None:
        typer.echo(f"completeness gap |delta| = {float(abs(attribution.delta[0])):.3g}")
    typer.echo(f"picture: {picture}")
    if attribution.layout == "text" and hasattr(attribution, "names_of"):
        page = out / f"{stem}.html"
        page.write_text(f"<!doctype html><meta charset='utf-8'>{text_html(attribution, 0, title=title)}", encoding="utf-8")
        typer.echo(f"highlighted text: {page}")
    typer.echo(f"raw result: {raw}")


def _write_global(importance, model: str, method: str, shown: str, out: Path) -> None:
    from matplotlib.figure import Figure

    from .viz import figure_to_png, plot_importance

    stem = f"{model}_{method}"
    count = min(15, len(importance.importances))
    figure = Figure(figsize=(7.5, 1.2 + 0.28 * count), layout="constrained")
    plot_importance(importance, ax=figure.subplots(), top_k=count, title=f"{model}: {method}")
    picture = figure_to_png(figure, out / f"{stem}.png")
    raw = importance.save(out / f"{stem}.npz")
    typer.echo(f"{method} on {model}, {importance.n_rows} held-out rows ({shown}): "
               f"{importance.metric} {importance.baseline:.3g} on the intact data")
    typer.echo("most important: " + ", ".join(
        f"{name} ({value:+.3g})" for name, value in zip(importance.ranking(5), sorted(importance.importances, reverse=True))))
    typer.echo(f"picture: {picture}")
    typer.echo(f"raw result: {raw}")


# Methods and metrics `evaluate` compares by default, per input layout: a few seconds on the small zoo models.
EVALUATE_DEFAULTS = {
    "image": (("saliency", "integrated_gradients", "grad_cam", "occlusion"), ("deletion", "insertion", "sparseness", "max_sensitivity")),
    "tabular": (("saliency", "integrated_gradients", "kernel_shap"), ("deletion", "insertion", "faithfulness_correlation", "sparseness")),
    "text": (("feature_ablation", "kernel_shap", "lime"), ("deletion", "insertion", "comprehensiveness", "sufficiency")),
    "sequence": (("saliency", "integrated_gradients", "occlusion"), ("deletion", "insertion", "sparseness")),
}
# Zoo models trained on permuted labels, for `data_randomisation`.
RANDOM_LABEL_TWINS = {"digits_cnn": "digits_random_labels"}


def split_names(text: Optional[str]) -> Optional[list[str]]:
    """`a, b,c` -> ['a', 'b', 'c']; None stays None.

    >>> split_names("deletion, sparseness"), split_names(None)
    (['deletion', 'sparseness'], None)
    """
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError("give at least one name (comma-separated)")
    return names


@app.command("evaluate")
def evaluate_command(
    model: Annotated[str, typer.Option(help="zoo model: digits_cnn, digits_watermark, breast_cancer_mlp, ...")],
    methods: Annotated[Optional[str], typer.Option(help="comma-separated attribution methods (default: a few per input type)")] = None,
    metrics: Annotated[Optional[str], typer.Option(help="comma-separated metrics (default: faithfulness, complexity, "
                                                         "robustness; localisation too when the model has a ground-truth mask)")] = None,
    samples: Annotated[int, typer.Option(min=1, help="held-out inputs to score (classes in turn)")] = 8,
    seed: Annotated[int, typer.Option(help="seed of every random choice")] = 0,
    out: Annotated[Path, typer.Option(help="folder for comparison.csv, scores.csv and comparison.png")] = Path("evaluation"),
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Score attribution methods on evaluation metrics for a zoo model's held-out inputs.

    Prints the table (each metric with its direction: ↑ higher is better, ↓ lower is better) and
    writes it as CSV with a picture of the ranks. Methods run with the gallery's settings. For
    `digits_watermark` the inputs are held-out images of the watermarked class and the tag's
    mask is the ground truth of the localisation metrics.
    """
    from . import zoo
    from .evaluate import compare, get_metric
    from .evaluate.compare import LOCALISATION_METRICS, build_metric, required_context
    from .gallery import gallery_settings, pick_samples, take
    from .taxonomy import get_method

    with user_errors():
        method_names, metric_names = split_names(methods), split_names(metrics)
        for name in method_names or []:
            get_method(name)
        for name in metric_names or []:
            get_metric(name)
        zoo_model = zoo.load(model)
        default_methods, default_metrics = EVALUATE_DEFAULTS.get(zoo_model.layout, EVALUATE_DEFAULTS["tabular"])
        inputs, mask = _evaluation_inputs(zoo_model, samples, pick_samples, take)
        if metric_names is None:
            metric_names = list(default_metrics) + (list(LOCALISATION_METRICS) if mask is not None else [])
        context = {"mask": mask}
        for name in metric_names:
            needs = required_context(build_metric(name, seed))
            if "mask" in needs and mask is None:
                raise InputError(f"{name} needs a ground-truth mask; {model} has none (digits_watermark has one)")
            if "random_model" in needs:
                if model not in RANDOM_LABEL_TWINS:
                    raise InputError(f"{name} needs a twin trained on permuted labels; only {', '.join(RANDOM_LABEL_TWINS)} has one")
                context["random_model"] = zoo.load(RANDOM_LABEL_TWINS[model]).model
        chosen = [(name, gallery_settings(name, zoo_model)) for name in method_names or default_methods]
        comparison = compare(zoo_model.model, inputs, chosen, metric_names, seed=seed, show_progress=progress, **context)
        paths = comparison.save(out)
    typer.echo(f"{model}: {len(inputs)} held-out inputs, explaining the predicted class")
    typer.echo(comparison.to_text())
    typer.echo(f"table: {paths['table']}\nper-example scores: {paths['scores']}\npicture: {paths['figure']}")


def _evaluation_inputs(zoo_model, samples: int, pick_samples, take):
    """The held-out inputs to score and the ground-truth mask (None when the model has none)."""
    watermark = getattr(zoo_model, "watermark_mask", None)
    if watermark is None:
        return take(zoo_model.inputs, pick_samples(zoo_model, samples)), None
    tagged = zoo_model.inputs[zoo_model.labels == zoo_model.watermark_class][:samples]
    return tagged, watermark.expand(len(tagged), *watermark.shape)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="folder for the gallery (index.html, pictures, raw results)")] = Path("reports"),
    model: Annotated[Optional[list[str]], typer.Option(help="zoo model(s) to include (default: all of them)")] = None,
    method: Annotated[Optional[list[str]], typer.Option(help="method(s) to include (default: every attribution method)")] = None,
    samples: Annotated[Optional[int], typer.Option(min=1, help="inputs per model (default: 4 each)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    watermark: Annotated[bool, typer.Option(help="add the model-diagnosis case: which methods reveal a watermark shortcut")] = True,
    audits: Annotated[bool, typer.Option(help="audit the bundled models first (breast cancer, German credit, EfficientNet)")] = True,
    gallery: Annotated[bool, typer.Option(help="then run every attribution method on the zoo models (the gallery)")] = True,
    budget: Annotated[Optional[str], typer.Option(help="the audits' model evaluations per case, or a time each "
                                                       "(default: the audit's own per input type)")] = None,
    cases: Annotated[int, typer.Option(min=1, help="the audits' cases of each kind")] = 2,
) -> None:
    """The main job on the bundled default: audit reports (OUT/audit/<model>/report.html), then the
    gallery of every attribution method on the zoo models (OUT/index.html)."""
    from .auditing.command import demo_audits
    from .gallery import MODELS, build_gallery

    if audits:
        with user_errors():
            reports = demo_audits(out / "audit", progress=progress, budget=budget, cases=cases)
    if not gallery:
        typer.echo("audit reports: " + ", ".join(str(path) for path in reports.values()) if audits else "nothing to do")
        return
    sections = [_watermark_section(progress)] if watermark else []
    with user_errors():
        built = build_gallery(out, models=tuple(model or MODELS), methods=method, n_samples=samples, show_progress=progress,
                              sections=sections)
    if not progress:
        typer.echo(f"gallery written to {built.index} ({built.seconds:.0f} s)")
    for entry in built.skipped:
        typer.echo(f"skipped {entry.method} on {entry.model}: {entry.reason}")
    for entry in built.failed:
        typer.echo(f"FAILED {entry.method} on {entry.model}: {entry.reason}", err=True)
    for reason in built.failed_sections:
        typer.echo(f"FAILED {reason}", err=True)
    if audits:
        typer.echo("audit reports: " + ", ".join(str(path) for path in reports.values()))
    if built.failed or built.failed_sections:
        raise typer.Exit(1)


def _watermark_section(progress: bool):
    """The watermark diagnosis case as a gallery section, written under `<out>/watermark/`."""
    from .gallery import Section

    def write(out_dir: Path) -> str:
        from .evaluate.diagnosis import watermark_case

        case = watermark_case(show_progress=progress)
        if progress:
            typer.echo(case.to_text())
        return case.html(out_dir / "watermark", out_dir)

    return Section(anchor="watermark", title="model diagnosis: a watermark shortcut", write=write)


def _register_audit() -> None:
    from .auditing.command import audit_command

    app.command("audit")(audit_command)


_register_audit()


def main() -> None:  # pragma: no cover - `python -m unboxed.cli`
    app(prog_name="unboxed")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
