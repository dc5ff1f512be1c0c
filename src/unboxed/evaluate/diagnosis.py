"""Model diagnosis: which attribution methods reveal a shortcut the model learned?

`digits_watermark` learned to call every image with a small bright tag in the top-left corner a
"0" (its training zeros all carried the tag). On held-out zeros, which carry the tag too, a
method that explains that model faithfully must put its relevance on the tag; on the same images
its clean twin (same architecture, data and training, no tag) has no reason to look there.

`watermark_case()` explains those images with several methods on both models and scores each
map against the tag's mask with the localisation metrics: relevance mass accuracy (the share of
positive relevance on the tag), relevance rank accuracy (the share of the k most relevant pixels
on the tag, k = the tag's size) and the pointing game (is the most relevant pixel on it?). Only
positive relevance (evidence for the class) counts, as in Arras et al. 2022; a map that ignores
the tag puts about the tag's share of the image on it (`area`), which is the chance level of the
first two metrics. `WatermarkCase.html(folder)` writes the table and pictures for the demo page.
"""
from __future__ import annotations

import html
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from ..maskers import ImageMasker
from .base import attribution_tensor
from .localisation import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy

METHODS = ("saliency", "integrated_gradients", "guided_backprop", "grad_cam", "occlusion", "kernel_shap", "lime")
MODELS = ("watermark", "clean")
# 4x4-pixel cells on the 32x32 digits: the tag is exactly one cell; removed cells turn black (the digits' background)
GRID = ImageMasker(segmentation="grid", grid=(8, 8), fill=0.0)
SETTINGS: dict[str, dict[str, Any]] = {
    "occlusion": {"window": (1, 4, 4), "stride": (1, 2, 2)},
    "kernel_shap": {"masker": GRID, "n_samples": 400},
    "lime": {"masker": GRID, "n_samples": 400, "coalitions": "bernoulli"},
}
METRICS = {"relevance_mass_accuracy": RelevanceMassAccuracy(), "relevance_rank_accuracy": RelevanceRankAccuracy(),
           "pointing_game": PointingGame()}
# Verdicts on relevance mass (times the tag's share of the image): "yes" from REVEALS, "partly" from PARTLY;
# always "no" when the clean twin's mass is not below 1/CONTRAST of the watermark model's (drawn to the corner anyway).
REVEALS, PARTLY, CONTRAST = 5.0, 2.0, 2.0


def verdict(mass_watermark: float, mass_clean: float, area: float) -> str:
    """Whether a method reveals the shortcut, from its relevance mass on the tag for both models.

    >>> verdict(0.6, 0.0, 0.0156), verdict(0.07, 0.0, 0.0156), verdict(0.6, 0.5, 0.0156), verdict(0.02, 0.0, 0.0156)
    ('yes', 'partly', 'no', 'no')
    """
    if not mass_watermark >= CONTRAST * mass_clean:
        return "no"
    return "yes" if mass_watermark >= REVEALS * area else "partly" if mass_watermark >= PARTLY * area else "no"


@dataclass
class WatermarkCase:
    """Localisation scores of each method on the watermark model and its clean twin.

    `table`: one row per method, columns `(metric, model)` with model "watermark" or "clean":
    the mean over the images. `scores`: per image. `area`: the tag's share of the image (a map
    that ignores the tag scores about that on relevance mass and rank accuracy). `maps[model][method]`:
    the positive relevance per pixel (n, H, W); `images` the explained inputs (n, 1, H, W).
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    area: float
    mask: torch.Tensor
    watermark_class: int
    images: torch.Tensor
    maps: dict[str, dict[str, np.ndarray]]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def reveals(self) -> pd.Series:
        """Whether each method reveals the shortcut: "yes", "partly" or "no" (see `verdict`)."""
        mass = self.table["relevance_mass_accuracy"]
        return pd.Series([verdict(w, c, self.area) for w, c in zip(mass["watermark"], mass["clean"])], index=mass.index)

    def summary(self) -> pd.DataFrame:
        """The table with short column names (`mass (watermark)`, ...) and the `reveals` verdict."""
        short = {"relevance_mass_accuracy": "mass", "relevance_rank_accuracy": "rank", "pointing_game": "pointing"}
        flat = self.table.copy()
        flat.columns = [f"{short[metric]} ({model})" for metric, model in flat.columns]
        flat["reveals shortcut"] = self.reveals
        return flat

    def to_text(self) -> str:
        return (f"{self.summary().to_string(float_format=lambda v: f'{v:.3f}')}\n"
                f"tag area fraction: {self.area:.4f} (what a map that ignores the tag gets on mass and rank accuracy)")

    def plot_maps(self, n_examples: int = 2):
        """Example images (rows: each model on each example) and each method's positive relevance,
        with the tag's outline in cyan. Returns a matplotlib Figure."""
        from matplotlib.figure import Figure

        from ..viz.image import colour_scale, overlay

        methods = list(self.table.index)
        n_examples = min(n_examples, len(self.images))
        rows = [(model, i) for i in range(n_examples) for model in MODELS]
        figure = Figure(figsize=(1.5 * (len(methods) + 1), 1.55 * len(rows) + 0.6), layout="constrained")
        axes = np.atleast_2d(figure.subplots(len(rows), len(methods) + 1))
        images = self.images[:, 0].detach().cpu().numpy().clip(0, 1)
        mask = self.mask.cpu().numpy().astype(float)
        for r, (model, i) in enumerate(rows):
            axes[r, 0].imshow(images[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[r, 0].set_ylabel(f"{model} model\nimage {i}", fontsize=8)
            for c, method in enumerate(methods, start=1):
                heat = self.maps[model][method][i]
                axes[r, c].imshow(overlay(images[i], heat, colour_scale(heat, signed=False)), interpolation="nearest")
                if r == 0:
                    axes[r, c].set_title(method, fontsize=8)
            for ax in axes[r]:
                ax.contour(mask, levels=[0.5], colors="cyan", linewidths=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, 0].set_title("input", fontsize=8)
        figure.suptitle(f"digits_watermark vs its clean twin: positive relevance for class {self.watermark_class} "
                        "(tag outlined in cyan)", fontsize=9)
        return figure

    def plot_scores(self):
        """Relevance mass accuracy per method on both models, with the tag's area fraction as a line."""
        from matplotlib.figure import Figure

        mass = self.table["relevance_mass_accuracy"]
        figure = Figure(figsize=(1.2 + 0.9 * len(mass), 3.2), layout="constrained")
        ax = figure.subplots()
        x = np.arange(len(mass))
        ax.bar(x - 0.2, mass["watermark"], 0.4, label="watermark model", color="#c0392b")
        ax.bar(x + 0.2, mass["clean"], 0.4, label="clean twin", color="#7f8c8d")
        ax.axhline(self.area, color="black", linestyle="--", linewidth=1, label=f"tag area ({self.area:.1%}): chance")
        ax.set_xticks(x, list(mass.index), rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("relevance mass on the tag ↑", fontsize=8)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title("share of positive relevance on the tag", fontsize=9)
        return figure

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write `watermark.csv` (the summary), `watermark_scores.csv` (per image), `maps.png` and `scores.png`."""
        from ..viz import figure_to_png

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"table": folder / "watermark.csv", "scores": folder / "watermark_scores.csv"}
        self.summary().to_csv(paths["table"], index_label="method")
        self.scores.to_csv(paths["scores"], index=False)
        paths["maps"] = figure_to_png(self.plot_maps(), folder / "maps.png", dpi=90)
        paths["bars"] = figure_to_png(self.plot_scores(), folder / "scores.png", dpi=90)
        return paths

    def html(self, folder: str | Path, page_dir: str | Path) -> str:
        """Save into `folder` and return an HTML section for a page in `page_dir` (links relative to it)."""
        paths = self.save(folder)
        link = {key: html.escape(path.relative_to(page_dir).as_posix()) for key, path in paths.items()}
        summary = self.summary()
        header = "".join(f"<th>{html.escape(c)}</th>" for c in summary.columns)
        rows = "".join(
            f"<tr><td><b>{html.escape(method)}</b></td>"
            + "".join(f"<td class='num'>{html.escape(v) if isinstance(v, str) else f'{v:.3f}'}</td>"
                      for v in row.tolist()) + "</tr>"
            for method, row in summary.iterrows())
        n = len(self.images)
        return "\n".join([
            "<h2 id='watermark'>Model diagnosis: a watermark shortcut</h2>",
            f"<p class='muted'><code>digits_watermark</code> was trained with a small bright tag in the top-left corner of "
            f"every image of class {self.watermark_class}, so it learned the tag as a shortcut; its clean twin was trained "
            f"the same way without it. Each method explains class {self.watermark_class} on the same {n} held-out tagged "
            f"images for both models, and the localisation metrics score the positive relevance against the tag's mask. "
            f"<b>The tag covers {self.area:.1%} of the image</b>: a map that ignores it puts about {self.area:.1%} of its "
            f"relevance mass there (and scores about that on rank accuracy). A method reveals the shortcut (yes) when its "
            f"mass on the watermark model is at least {REVEALS:g}× the area, partly from {PARTLY:g}×, provided its mass on "
            f"the clean twin is under 1/{CONTRAST:g} of that. Higher is better on every metric (↑). Coarse maps can land "
            f"next to the tag rather than on it (Grad-CAM is upsampled from the last convolutional layer): see the pictures.</p>",
            f"<table><tr><th>method</th>{header}</tr>{rows}</table>",
            f"<p class='muted'>Raw scores: <a href='{link['table']}'>{html.escape(paths['table'].name)}</a>, "
            f"<a href='{link['scores']}'>{html.escape(paths['scores'].name)}</a>.</p>",
            f"<figure><a href='{link['bars']}'><img src='{link['bars']}' alt='relevance mass on the tag'></a></figure>",
            f"<figure><a href='{link['maps']}'><img src='{link['maps']}' alt='maps of the watermark model and its twin'></a>"
            "<figcaption class='muted'>Rows alternate between the watermark model and its clean twin on the same image; "
            "the tag is outlined in cyan.</figcaption></figure>",
        ])


def watermark_case(methods: Sequence[str] | None = None, n_images: int = 8, seed: int = 0, zoo_model: Any = None,
                   show_progress: bool = False) -> WatermarkCase:
    """Explain `n_images` held-out tagged images of the watermark class with each method on
    `digits_watermark` and on its clean twin, and score the maps against the tag.

    `methods`: registered attribution methods (default `METHODS`), run with the settings of `SETTINGS` (a grid masker
    whose cells match the tag for the superpixel methods) and the model's layer for CAM methods.
    `zoo_model`: a loaded `digits_watermark` (default: `zoo.load("digits_watermark")`).

    >>> case = watermark_case(methods=["integrated_gradients"], n_images=2)
    >>> mass = case.table.loc["integrated_gradients", "relevance_mass_accuracy"]
    >>> bool(mass["watermark"] > 5 * case.area > mass["clean"]), case.reveals["integrated_gradients"]
    (True, 'yes')
    """
    from tqdm.auto import tqdm

    from .. import zoo
    from ..taxonomy import get_method

    if isinstance(methods, str) or (methods is not None and not methods):
        raise InputError("methods must be a non-empty list of attribution method names")
    methods = list(METHODS if methods is None else methods)
    for name in methods:
        get_method(name)  # unknown names: a clear error before anything runs
    zoo_model = zoo_model if zoo_model is not None else zoo.load("digits_watermark")
    tagged = torch.as_tensor(zoo_model.labels) == zoo_model.watermark_class
    images = zoo_model.inputs[tagged][: int(n_images)]
    if len(images) == 0:
        raise InputError("n_images must be at least 1")
    mask = zoo_model.watermark_mask
    masks = mask.expand(len(images), *mask.shape)
    target = zoo_model.watermark_class
    models = {"watermark": zoo_model.model, "clean": zoo_model.clean.model}
    records, maps, seconds = [], {name: {} for name in MODELS}, {}
    bar = tqdm(total=len(methods) * len(models), desc="watermark case", unit="map", disable=not show_progress)
    for method in methods:
        started = time.perf_counter()
        for model_name, model in models.items():
            bar.set_postfix_str(f"{method} on {model_name}")
            settings = {**SETTINGS.get(method, {}), **_layer(method, zoo_model), **_seed(method, seed)}
            explanation = get_method(method)(model, **settings).explain(images, target=target)
            # a copy: per-superpixel values expanded to pixels can be a read-only broadcast view
            positive = attribution_tensor(np.array(explanation.input_values()), images).sum(1, keepdim=True).clamp(min=0)
            maps[model_name][method] = positive[:, 0].detach().cpu().numpy()
            for metric_name, metric in METRICS.items():
                result = metric.evaluate(model, images, target=target, explanation=positive, mask=masks)
                records += [{"method": method, "model": model_name, "metric": metric_name, "image": i, "score": float(s)}
                            for i, s in enumerate(result.scores)]
            bar.update(1)
        seconds[method] = time.perf_counter() - started
    bar.close()
    scores = pd.DataFrame(records)
    table = scores.pivot_table(index="method", columns=["metric", "model"], values="score", aggfunc="mean", sort=False)
    table = table.reindex(index=list(methods), columns=pd.MultiIndex.from_product([list(METRICS), list(MODELS)]))
    return WatermarkCase(table=table, scores=scores, area=float(mask.float().mean()), mask=mask,
                         watermark_class=zoo_model.watermark_class, images=images, maps=maps, seconds=seconds)


def _layer(method: str, zoo_model) -> dict[str, Any]:
    """The zoo model's layer for methods that take one (class activation maps)."""
    return {"layer": zoo_model.cam_layer} if "layer" in _parameters(method) else {}


def _seed(method: str, seed: int) -> dict[str, Any]:
    return {"seed": seed} if "seed" in _parameters(method) else {}


def _parameters(method: str):
    from ..taxonomy import get_method

    return inspect.signature(get_method(method).__init__).parameters
