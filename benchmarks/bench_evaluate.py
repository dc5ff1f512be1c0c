"""Evaluation benchmark: ours vs Quantus vs the floor, in one process, same model, inputs and explanations.

64 digits images, the digits CNN, saliency maps computed once and given to both sides. For each
metric, both libraries run with the same settings (baseline 0, logits not softmax, the same
subset sizes, steps and sample counts). The floor is the model evaluations the metric cannot
avoid (forwards for the faithfulness metrics, forward+backward re-explanations for the metrics
that re-run the method), timed bare on copies of the inputs at the fastest of a few batch sizes
in the same run; "-" where a metric makes no model call. Usage:

    python benchmarks/bench_evaluate.py [--repeats 1] [--metrics faithfulness_correlation sparseness]
"""
from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

import unboxed
from unboxed import adapt, zoo
from unboxed.evaluate import ROAD, FaithfulnessCorrelation, PixelFlipping, Sparseness, get_metric

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from zennit_without_torchvision import stub_zennit_torchvision  # noqa: E402  (Quantus imports zennit)

N_IMAGES = 64
RUNS, SUBSET = 100, 224  # faithfulness correlation: Quantus' defaults
FLIP_STEP = 16  # pixel flipping: pixels per step (64 steps over 32 x 32)
NOISE_SAMPLES, NOISE_RADIUS = 10, 0.2  # max-sensitivity
ROAD_PERCENTAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def seconds(function: Callable) -> float:
    """Wall time of one call. The garbage of the candidate before is collected first: Quantus' model
    copies left uncollected made the next candidate's run up to 3x slower (the collector ran in it)."""
    gc.collect()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def floor_runs(models, inputs: torch.Tensor, total: int, with_grad: bool, batch_sizes) -> dict[int, Callable]:
    """Bare runs of `total` model evaluations (forward, or forward+backward) over copies of
    `inputs`, one per batch size, shared equally by `models` (one model, or the randomised copies
    a randomisation check explains: their passes cost up to 12% more than the trained model's)."""
    models = models if isinstance(models, list) else [models]
    runs = {}
    for batch in sorted(set(batch_sizes)):
        chunk = inputs.repeat(-(-batch // len(inputs)), 1, 1, 1)[:batch]
        calls, last = divmod(total // len(models), batch)
        sizes = [batch] * calls + ([last] if last else [])

        def run(chunk=chunk, sizes=sizes):
            for model in models:
                for size in sizes:
                    if with_grad:
                        x = chunk[:size].clone().requires_grad_()
                        torch.autograd.grad(model(x)[:, 0].sum(), x)
                    else:
                        with torch.no_grad():
                            model(chunk[:size])

        runs[batch] = run
    return runs


def cascade(model, layers: list[str]) -> list:
    """The models a cascading randomisation explains: the top layer randomised, then the next too, ..."""
    from unboxed.evaluate.randomisation import layer_generator, model_copy, randomise_layer
    models, current = [], model_copy(model)
    for name in layers:
        randomise_layer(current.get_submodule(name), layer_generator(0, name))
        models.append(model_copy(current))
    return models


def rounds(ours: Callable, theirs: Callable, floors: dict[int, Callable], repeats: int) -> dict:
    """Every candidate once per round, in turn, so that a slow spell of the shared machine hits
    all of them alike; ratios are the median over rounds of the ratio within a round."""
    times = {"ours": [], "quantus": [], "floor": [], "batch": []}
    for _ in range(repeats):
        times["ours"].append(seconds(ours))
        times["quantus"].append(seconds(theirs))
        if floors:
            floor_times = {batch: seconds(run) for batch, run in floors.items()}
            best = min(floor_times, key=floor_times.get)
            times["floor"].append(floor_times[best])
            times["batch"].append(best)
    ratio = lambda a, b: statistics.median(x / y for x, y in zip(times[a], times[b]))  # noqa: E731
    return {"ours": min(times["ours"]), "quantus": min(times["quantus"]), "ours/quantus": ratio("ours", "quantus"),
            "floor": min(times["floor"]) if floors else None, "ours/floor": ratio("ours", "floor") if floors else None,
            "batch": statistics.mode(times["batch"]) if floors else None}


def quantus_call(metric, model, x, y, a, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu", softmax=False, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="rounds: best time, median ratio over rounds")
    parser.add_argument("--metrics", nargs="+", help="only these metrics")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on a shared machine, more threads than free cores make every "
                             "model call wait for descheduled threads, and times swing 5x)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    stub_zennit_torchvision()
    import quantus

    loaded = zoo.load("digits_cnn")
    model = loaded.model.eval()
    inputs = loaded.inputs[:N_IMAGES].contiguous()
    with torch.no_grad():
        target = model(inputs).argmax(1)
    ours_model = adapt(model)
    saliency = unboxed.get_method("saliency")(ours_model).explain(inputs, target=target)
    x, y, a = inputs.numpy(), target.numpy(), saliency.values.astype(np.float32)
    chunk = ours_model.chunk_size(inputs)
    batch_sizes = (64, chunk, 256, 512)
    n = N_IMAGES
    pixels = inputs[0, 0].numel()
    explain = {"explain_func": quantus.explain, "explain_func_kwargs": {"method": "Saliency"}}
    quiet = {"disable_warnings": True}

    rows = [  # name, ours, quantus, (model evaluations, with gradients) or None
        ("faithfulness_correlation",
         lambda: FaithfulnessCorrelation(n_subsets=RUNS, subset_size=SUBSET).evaluate(ours_model, inputs, target, saliency),
         lambda: quantus_call(quantus.FaithfulnessCorrelation(nr_runs=RUNS, subset_size=SUBSET, perturb_baseline=0.0,
                                                              return_aggregate=False, **quiet), model, x, y, a),
         (n * (RUNS + 1), False)),
        ("pixel_flipping",
         lambda: PixelFlipping(features_per_step=FLIP_STEP).evaluate(ours_model, inputs, target, saliency),
         lambda: quantus_call(quantus.PixelFlipping(features_in_step=FLIP_STEP, perturb_baseline=0.0, **quiet), model, x, y, a),
         (n * (pixels // FLIP_STEP), False)),
        ("road (9 fractions)",
         lambda: ROAD(percentages=ROAD_PERCENTAGES).evaluate(ours_model, inputs, target, saliency),
         lambda: quantus_call(quantus.ROAD(percentages=[round(100 * p) for p in ROAD_PERCENTAGES], **quiet), model, x, y, a),
         (n * len(ROAD_PERCENTAGES), False)),
        ("sparseness",
         lambda: Sparseness().evaluate(ours_model, inputs, target, saliency),
         lambda: quantus_call(quantus.Sparseness(**quiet), model, x, y, a),
         None),
    ]
    # Metrics from the robustness / randomisation modules, when they are there (importing registers them).
    for module in ("robustness", "randomisation"):
        try:
            importlib.import_module(f"unboxed.evaluate.{module}")
        except ImportError:
            pass
    try:
        sensitivity = get_metric("max_sensitivity")(radius=NOISE_RADIUS, n_samples=NOISE_SAMPLES, relative=True)
        rows.append(("max_sensitivity",
                     lambda: sensitivity.evaluate(ours_model, inputs, target, saliency, method="saliency"),
                     lambda: quantus_call(quantus.MaxSensitivity(nr_samples=NOISE_SAMPLES, lower_bound=NOISE_RADIUS, **quiet),
                                          model, x, y, a, **explain),
                     (n * NOISE_SAMPLES, True)))
    except Exception as error:  # noqa: BLE001  hook: robustness metrics not available
        print(f"(max_sensitivity skipped: {error})")
    try:
        randomisation = get_metric("model_parameter_randomisation")()
        layers = randomisation.layer_order(ours_model, inputs)
        rows.append(("model_parameter_randomisation",
                     lambda: randomisation.evaluate(ours_model, inputs, target, saliency, method="saliency"),
                     lambda: quantus_call(quantus.MPRT(**quiet), model, x, y, a, **explain),
                     (n * len(layers), True, cascade(model, layers))))
    except Exception as error:  # noqa: BLE001  hook: randomisation metrics not available
        print(f"(model_parameter_randomisation skipped: {error})")

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu; {n} digits images, saliency maps; "
          f"{args.repeats} rounds (best time; ratios: median over rounds)")
    print(f"{'metric':30s} {'ours':>9s} {'quantus':>9s} {'floor':>9s} {'ours/quantus':>12s} {'ours/floor':>10s}  floor work")
    for name, ours, theirs, needs in rows:
        if args.metrics and not any(name.startswith(m) for m in args.metrics):
            continue
        ours(), theirs()  # warm-up: allocator, kernels, lazy imports
        floors = floor_runs(needs[2] if len(needs) > 2 else model, inputs, needs[0], needs[1], batch_sizes) if needs else {}
        result = rounds(ours, theirs, floors, args.repeats)
        floor_text, ratio_text, work = "-", "-", "no model call"
        if needs:
            floor_text, ratio_text = f"{result['floor']:8.3f}s", f"{result['ours/floor']:9.2f}x"
            work = f"{needs[0]} {'forward+backward' if needs[1] else 'forward'} passes, best at {result['batch']} per call"
            work += " (through the randomised copies)" if len(needs) > 2 else ""
        print(f"{name:30s} {result['ours']:8.3f}s {result['quantus']:8.3f}s {floor_text:>9s} {result['ours/quantus']:11.3f}x "
              f"{ratio_text:>10s}  {work}", flush=True)
    print("road: the floor counts its model calls only, not the sparse solve of the imputation, which dominates")


if __name__ == "__main__":
    main()
