"""Gradient-family benchmark: ours vs Captum vs the floor, in one process, same model and inputs.

The floor is the model passes a method cannot avoid (forward+backward for gradient methods,
forwards for occlusion), timed bare at the best batch size in the same run. Prints, per method,
the best time of each and the ratios ours/Captum and ours/floor as the median over rounds of the
ratio within a round (all candidates run in turn in every round). Usage:

    python benchmarks/bench_gradients.py [--models digits_cnn efficientnet_lite0] [--repeats 1]
    python benchmarks/bench_gradients.py --memory    # peak memory of IG at 200 steps under two budgets
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time

import torch
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import LayerGradCam, NoiseTunnel
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import Occlusion as CaptumOcclusion
from captum.attr import Saliency as CaptumSaliency

from unboxed import adapt, zoo
from unboxed.attribution import GradCAM, GuidedBackprop, IntegratedGradients, Occlusion, Saliency, SmoothGrad

SETUPS = {
    # model: (number of inputs, occlusion window, occlusion stride, images per Captum model call)
    "digits_cnn": (64, (1, 4, 4), (1, 4, 4), 256),
    "efficientnet_lite0": (16, (3, 32, 32), (3, 32, 32), 32),
}
IG_STEPS, SMOOTH_SAMPLES = 50, 25


def interleaved_rounds(candidates: dict, repeats: int) -> dict[str, list[float]]:
    """Times of each candidate over `repeats` rounds, running them in turn in every round so
    that a slow spell of the machine hits all of them alike."""
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, function in candidates.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the ratio within a round: robust to the machine's slow spells,
    which shift both times of a round together (best-of-N per side is not, at millisecond scale)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def floor_runs(model, inputs, total: int, with_grad: bool) -> dict:
    """Bare runs of `total` model passes over copies of `inputs`, one per candidate batch size."""
    runs = {}
    for batch in sorted({8, 16, 64, 256, total} & set(range(1, total + 1))):
        if batch * inputs[0].numel() * 4 * (40 if with_grad else 4) > 4 * 1024**3 and batch > 16:
            continue  # keep the floor within a few GB, as ours is
        reps = -(-total // batch)
        chunk = inputs.repeat(-(-batch // len(inputs)), *([1] * (inputs.ndim - 1)))[:batch]

        def run(chunk=chunk, reps=reps):
            for _ in range(reps):
                if with_grad:
                    x = chunk.clone().requires_grad_()
                    torch.autograd.grad(model(x)[:, 0].sum(), x)
                else:
                    with torch.no_grad():
                        model(chunk)

        runs[f"floor@{batch}"] = run
    return runs


def occlusion_windows(shape, window, stride) -> int:
    count = 1
    for size, w, s in zip(shape, window, stride):
        count *= (size - w) // s + 1
    return count


def bench_model(name: str, repeats: int, only: list[str] | None = None) -> list[dict]:
    n, window, stride, batch = SETUPS[name]
    per_call = max(1, batch // n)  # Captum batches by perturbations per input: keep its calls at `batch` images
    loaded = zoo.load(name)
    model = loaded.model
    inputs = loaded.inputs.repeat(-(-n // len(loaded.inputs)), 1, 1, 1)[:n].contiguous()
    target = model(inputs).argmax(1).detach()
    layer = getattr(model, loaded.cam_layer)
    ours_model = adapt(model, memory_budget=2 * 1024**3)
    windows = occlusion_windows(inputs.shape[1:], window, stride)
    rows = [
        ("saliency", lambda: Saliency(ours_model).explain(inputs, target=target),
         lambda: CaptumSaliency(model).attribute(inputs, target=target), n, True),
        (f"integrated_gradients ({IG_STEPS} steps)",
         lambda: IntegratedGradients(ours_model, n_steps=IG_STEPS).explain(inputs, target=target),
         lambda: CaptumIG(model).attribute(inputs, target=target, n_steps=IG_STEPS, internal_batch_size=batch), n * IG_STEPS, True),
        (f"smoothgrad ({SMOOTH_SAMPLES} samples)",
         lambda: SmoothGrad(ours_model, n_samples=SMOOTH_SAMPLES, noise_level=0.1).explain(inputs, target=target),
         lambda: NoiseTunnel(CaptumSaliency(model)).attribute(inputs, target=target, nt_type="smoothgrad",
                                                             nt_samples=SMOOTH_SAMPLES, nt_samples_batch_size=per_call, stdevs=0.1),
         n * SMOOTH_SAMPLES, True),
        ("guided_backprop", lambda: GuidedBackprop(ours_model).explain(inputs, target=target),
         lambda: CaptumGuidedBackprop(model).attribute(inputs, target=target), n, True),
        ("grad_cam", lambda: GradCAM(ours_model, layer=loaded.cam_layer, upsample=None).explain(inputs, target=target),
         lambda: LayerGradCam(model, layer).attribute(inputs, target=target), n, True),
        (f"occlusion ({windows} windows)",
         lambda: Occlusion(ours_model, window=window, stride=stride).explain(inputs, target=target),
         lambda: CaptumOcclusion(model).attribute(inputs, target=target, sliding_window_shapes=window, strides=stride,
                                                  perturbations_per_eval=per_call), n * windows, False),
    ]
    results = []
    for method, ours, captum, passes, with_grad in rows:
        if only and not any(method.startswith(prefix) for prefix in only):
            continue
        ours(), captum()  # warm-up: allocator and kernels
        rounds = interleaved_rounds({"ours": ours, "captum": captum, **floor_runs(model, inputs, passes, with_grad)}, repeats)
        t_ours, t_captum = min(rounds["ours"]), min(rounds["captum"])
        floor_at = min((k for k in rounds if k.startswith("floor")), key=lambda k: min(rounds[k]))
        t_floor = min(rounds[floor_at])
        vs_captum, vs_floor = paired_ratio(rounds["ours"], rounds["captum"]), paired_ratio(rounds["ours"], rounds[floor_at])
        results.append({"model": name, "method": method, "ours_s": t_ours, "captum_s": t_captum, "floor_s": t_floor,
                        "ours/captum": vs_captum, "ours/floor": vs_floor,
                        "images_per_s": n / t_ours})
        print(f"{name:18s} {method:34s} ours {t_ours:8.3f}s  captum {t_captum:8.3f}s  floor {t_floor:8.3f}s  "
              f"ours/captum {vs_captum:5.2f}  ours/floor {vs_floor:5.2f}  ({floor_at})", flush=True)
    return results


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def peak_memory_child(budget: int, steps: int) -> None:
    """Run IG on 16 EfficientNet images in this process; print the peak resident memory above the start."""
    loaded = zoo.load("efficientnet_lite0")
    inputs = loaded.inputs.repeat(3, 1, 1, 1)[:16].contiguous()
    baseline, peak, done = resident_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], resident_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    IntegratedGradients(adapt(loaded.model, memory_budget=budget), n_steps=steps).explain(inputs, target=967)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    print(json.dumps({"budget_mb": budget / 2**20, "peak_growth_mb": (peak[0] - baseline) / 2**20, "seconds": seconds}))


def memory_table(steps: int = 200) -> None:
    for budget in (256 * 2**20, 1024 * 2**20):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(budget), str(steps)],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        row = json.loads(out)
        print(f"IG {steps} steps, 16 EfficientNet images: budget {row['budget_mb']:6.0f} MB -> "
              f"peak resident memory above start {row['peak_growth_mb']:7.0f} MB in {row['seconds']:.1f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per timing")
    parser.add_argument("--methods", nargs="+", help="only the methods whose names start with these")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, type=int, metavar=("BUDGET", "STEPS"))
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(*args.memory_child)
        return
    if args.memory:
        memory_table()
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    for name in args.models:
        bench_model(name, args.repeats, args.methods)


if __name__ == "__main__":
    main()
