"""Model-agnostic benchmark: ours vs shap, lime and Captum, and vs the floor, in one process.

The floor is the model evaluations an estimator cannot avoid (rows x samples x background rows),
timed bare at the best batch size in the same run. Every case prints ours/peer and ours/floor; the
floor ratio is the median over rounds of the ratio within a round (ours and the floor in turn),
which this shared machine's slow spells shift much less than best-of-N per side.
Peers that take hours on the full case (Captum's Lime/KernelShap explain one row and one
baseline at a time) are timed on a slice of it and scaled to the full case; the line says so.

    python benchmarks/bench_model_agnostic.py [--cases tabular digits effnet exact] [--repeats 1]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time
import warnings

import numpy as np
import torch

from unboxed import adapt, get_method, zoo
from unboxed.maskers import ImageMasker, TabularMasker

warnings.filterwarnings("ignore")


def timed(function, repeats: int) -> tuple[float, object]:
    """Best time over `repeats` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def floor(model, sample: torch.Tensor, total: int, repeats: int, batches=(256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)):
    """The bare no-grad forward of `total` inputs like `sample` at its fastest batch size: (run, batch)."""
    results, runs = {}, {}
    for batch in batches:
        batch = min(batch, total)
        chunk = sample.repeat(-(-batch // len(sample)), *([1] * (sample.ndim - 1)))[:batch].contiguous()
        calls, last = divmod(total, batch)

        def run(chunk=chunk, calls=calls, last=last):
            with torch.no_grad():
                for _ in range(calls):
                    model(chunk)
                if last:
                    model(chunk[:last])

        results[batch], runs[batch] = timed(run, repeats)[0], run
    best = min(results, key=results.get)
    return runs[best], best


def against_floor(ours, floor_run, repeats: int) -> tuple[float, float, float, object]:
    """(best ours, best floor, median over rounds of ours/floor within a round, ours' last result):
    ours and the floor run in turn in every round, so a slow spell of the machine hits both."""
    times, result = {"ours": [], "floor": []}, None
    for _ in range(max(repeats, 3)):
        gc.collect()
        start = time.perf_counter()
        result = ours()
        times["ours"].append(time.perf_counter() - start)
        gc.collect()
        times["floor"].append(timed(floor_run, 1)[0])
    ratio = statistics.median(a / b for a, b in zip(times["ours"], times["floor"]))
    return min(times["ours"]), min(times["floor"]), ratio, result


def line(case: str, method: str, ours: float, peers: dict[str, float], floor_s: float, ratio: float, note: str = "") -> None:
    ratios = "  ".join(f"ours/{name} {ours / t:6.3f} ({name} {t:8.2f}s)" for name, t in peers.items())
    print(f"{case:28s} {method:16s} ours {ours:8.3f}s  floor {floor_s:8.3f}s  ours/floor {ratio:5.2f}  {ratios} {note}",
          flush=True)


def logit(model, column: int = 1):
    """The model as a numpy function of one output column, as shap and lime take it."""
    def function(array):
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(array), dtype=torch.float32)).numpy()[:, column]
    return function


def probabilities(model):
    def function(array):
        with torch.no_grad():
            return torch.softmax(model(torch.as_tensor(np.asarray(array), dtype=torch.float32)), 1).numpy()
    return function


def tabular_case(repeats: int) -> None:
    """Breast-cancer MLP, 100 rows, 200 samples, 50-row background: Kernel SHAP and LIME."""
    import lime.lime_tabular
    import shap
    from captum.attr import KernelShap as CaptumKernelShap
    from captum.attr import Lime as CaptumLime

    loaded = zoo.load("breast_cancer_mlp")
    model, rows, background = loaded.model, loaded.inputs[:100], loaded.inputs[-50:]
    n_samples = 200
    kernel_shap = get_method("kernel_shap")(model, masker=TabularMasker(background), n_samples=n_samples, seed=0)
    floor_run, _ = floor(model, background, len(rows) * n_samples * len(background), repeats)
    t_ours, t_floor, ratio, ours = against_floor(lambda: kernel_shap.explain(rows, target=1), floor_run, repeats)
    explainer = shap.KernelExplainer(logit(model), background.numpy())
    t_shap, theirs = timed(lambda: explainer.shap_values(rows.numpy(), nsamples=n_samples, silent=True), repeats)
    # Captum: one row and one baseline per call; time 5 rows x 1 baseline, scale to 100 rows x 50 baselines.
    captum = CaptumKernelShap(model)
    t_captum = timed(lambda: [captum.attribute(rows[i : i + 1], baselines=background[:1], target=1, n_samples=n_samples,
                                               perturbations_per_eval=n_samples) for i in range(5)], 1)[0] * 20 * 50
    line("cancer MLP 100x200x50", "kernel_shap", t_ours, {"shap": t_shap, "captum*": t_captum}, t_floor, ratio,
         "(*captum timed on 5 rows x 1 baseline, scaled x1000)")
    error_table(model, rows[:20], background, ours, theirs)

    lime_samples = 1000
    ours_lime = get_method("lime")(model, background=background, n_samples=lime_samples, seed=0)
    floor_run, _ = floor(model, background, len(rows) * lime_samples, repeats)
    t_ours, t_floor, ratio, _ = against_floor(lambda: ours_lime.explain(rows, target=1), floor_run, repeats)
    lime_explainer = lime.lime_tabular.LimeTabularExplainer(background.numpy(), discretize_continuous=True, random_state=0)
    predict = probabilities(model)
    t_lime, _ = timed(lambda: [lime_explainer.explain_instance(r, predict, labels=(1,), num_samples=lime_samples)
                               for r in rows.numpy()], repeats)
    captum_lime = CaptumLime(model)
    t_captum = timed(lambda: [captum_lime.attribute(rows[i : i + 1], target=1, n_samples=lime_samples,
                                                    perturbations_per_eval=lime_samples) for i in range(5)], 1)[0] * 20
    line("cancer MLP 100x1000", "lime", t_ours, {"lime": t_lime, "captum*": t_captum}, t_floor, ratio,
         "(*captum timed on 5 rows, x20)")


def error_table(model, rows, background, ours, theirs) -> None:
    """Mean |error| of ours and shap's 200-sample values against a reference: 30 features are too many to
    enumerate (2^30 coalitions), so the reference is Kernel SHAP with 2^14 samples."""
    reference = get_method("kernel_shap")(model, masker=TabularMasker(background), n_samples=2**14, seed=1).explain(rows, target=1)
    ours_err = np.abs(ours.values[: len(rows)] - reference.values).mean()
    shap_err = np.abs(np.asarray(theirs)[: len(rows)] - reference.values).mean()
    print(f"{'':28s} mean |error| vs a 16384-sample reference on {len(rows)} rows: ours {ours_err:.4f}  shap {shap_err:.4f}", flush=True)


def image_case(name: str, n_images: int, masker: ImageMasker, n_samples: int, repeats: int, captum: bool,
               lime_batch: int, methods=("lime", "kernel_shap"), floor_batches=(8, 16, 32, 64, 128)) -> None:
    from captum.attr import KernelShap as CaptumKernelShap
    from captum.attr import Lime as CaptumLime

    loaded = zoo.load(name)
    model = loaded.model
    images = loaded.inputs.repeat(-(-n_images // len(loaded.inputs)), 1, 1, 1)[:n_images].contiguous()
    target = model(images).argmax(1)
    features = masker.features(images)
    segments = features.segments
    floor_run, best_batch = floor(model, images, n_images * n_samples, 1, batches=floor_batches)
    for method in methods:
        ours = get_method(method)(adapt(model), masker=masker, n_samples=n_samples, seed=0)
        t_ours, t_floor, ratio, _ = against_floor(lambda: ours.explain(images, target=target), floor_run, repeats)
        peers = {}
        if captum:
            peer = (CaptumLime if method == "lime" else CaptumKernelShap)(model)
            few = min(4, n_images)
            for label, per_eval in (("captum64*", 64), ("captum1*", 1)):  # a tuned batch, and Captum's default
                t_peer = timed(lambda: [peer.attribute(images[i : i + 1], target=int(target[i]), feature_mask=segments[i][None, None],
                                                       baselines=0.0, n_samples=n_samples, perturbations_per_eval=per_eval)
                                        for i in range(few)], 1)[0] * n_images / few
                peers[label] = t_peer
        if method == "lime":
            peers["lime_image"] = lime_image_time(model, images, segments, target, n_samples, lime_batch)
        line(f"{name} {n_images}x{n_samples}", method, t_ours, peers, t_floor, ratio,
             f"(floor batch {best_batch}; *captum timed on 4 images, scaled; 64 / 1 perturbations per call)" if captum
             else f"(floor batch {best_batch})")


def lime_image_time(model, images, segments, target, n_samples: int, batch: int) -> float:
    """lime_image on every image with the same segments, timed once."""
    from lime import lime_image

    explainer = lime_image.LimeImageExplainer(random_state=0)
    channels = images.shape[1]

    def classify(batch_hwc):
        x = torch.as_tensor(np.asarray(batch_hwc), dtype=torch.float32).permute(0, 3, 1, 2)[:, :channels].contiguous()
        with torch.no_grad():
            return torch.softmax(model(x), 1).numpy()

    start = time.perf_counter()
    for image, segment, label in zip(images, segments, target):
        hwc = image.permute(1, 2, 0).numpy().astype(np.float64)
        if channels == 1:
            hwc = np.repeat(hwc, 3, axis=2)  # lime_image wants 3 channels; the classifier keeps the first
        explainer.explain_instance(hwc, classify, labels=(int(label),), top_labels=None, hide_color=0, num_samples=n_samples,
                                   batch_size=batch, segmentation_fn=lambda _image, s=segment.numpy(): s)
    return time.perf_counter() - start


def exact_case(repeats: int) -> None:
    """Exact Shapley with 16 feature groups on the breast-cancer MLP: time per row and ours/floor."""
    loaded = zoo.load("breast_cancer_mlp")
    model, rows, background = loaded.model, loaded.inputs[:4], loaded.inputs[-50:]
    groups = [list(g) for g in np.array_split(np.arange(30), 16)]
    exact = get_method("exact_shapley")(model, masker=TabularMasker(background, groups=groups), seed=0)
    floor_run, _ = floor(model, background, len(rows) * 2**16 * len(background), 1)
    t_ours, t_floor, ratio, _ = against_floor(lambda: exact.explain(rows, target=1), floor_run, repeats)
    line("cancer MLP exact 16 groups", "exact_shapley", t_ours, {}, t_floor, ratio,
         f"({t_ours / len(rows):.3f} s per row, {2**16 * len(background)} model inputs per row)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["tabular", "digits", "effnet", "exact"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if "tabular" in args.cases:
        tabular_case(args.repeats)
    if "digits" in args.cases:
        image_case("digits_cnn", 64, ImageMasker(segmentation="grid", grid=(8, 8), fill=0.0), 500, args.repeats, True, 10)
    if "effnet" in args.cases:
        image_case("efficientnet_lite0", 4, ImageMasker(segmentation="slic", n_segments=50, fill=0.0), 1000, args.repeats,
                   False, 10, methods=("lime",), floor_batches=(2, 4, 8))  # 165 MB of activations per image
    if "exact" in args.cases:
        exact_case(args.repeats)


if __name__ == "__main__":
    main()
