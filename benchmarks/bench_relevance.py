"""LRP and DeepLIFT benchmark: ours vs Captum (LRP, DeepLift) and Zennit (EpsilonPlusFlat), same model
and inputs, in one process; the floor is one forward + one backward pass over the inputs.

Prints, per method, the best time of each and the paired ratios (median over rounds of the ratio
within a round, as benchmarks/bench_gradients.py). A peer that cannot run a model is reported
with its error. Usage:

    python benchmarks/bench_relevance.py [--models digits_cnn efficientnet_lite0] [--repeats 5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_gradients import interleaved_rounds, paired_ratio  # noqa: E402
from relevance_oracles import zennit_ready  # noqa: E402
from zennit_without_torchvision import stub_zennit_torchvision  # noqa: E402

from unboxed import zoo  # noqa: E402
from unboxed.attribution import LRP, DeepLift  # noqa: E402

SETUPS = {"digits_cnn": 64, "efficientnet_lite0": 16}


def peers(model: nn.Module, inputs: torch.Tensor, target: int) -> dict:
    from captum.attr import LRP as CaptumLRP
    from captum.attr import DeepLift as CaptumDeepLift

    stub_zennit_torchvision()
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import EpsilonPlusFlat

    zennit_model = zennit_ready(model)
    one_hot = torch.zeros(len(inputs), model(inputs[:1]).shape[1])
    one_hot[:, target] = 1

    def zennit():
        composite = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
        with Gradient(model=zennit_model, composite=composite) as attributor:
            attributor(inputs.clone(), one_hot)

    return {
        "captum LRP": lambda: CaptumLRP(model).attribute(inputs.clone(), target=target),
        "captum DeepLift": lambda: CaptumDeepLift(model).attribute(inputs.clone(), baselines=inputs * 0, target=target),
        "zennit EpsilonPlusFlat": zennit,
    }


def floor(model: nn.Module, inputs: torch.Tensor, target: int):
    def run():
        x = inputs.clone().requires_grad_()
        torch.autograd.grad(model(x)[:, target].sum(), x)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models:
        count = SETUPS[name]
        loaded = zoo.load(name) if name != "efficientnet_lite0" else zoo.load(name, photos=zoo.imagenet.PHOTOS[:4])
        inputs = loaded.inputs[:count]
        if len(inputs) < count:
            inputs = inputs.repeat(-(-count // len(inputs)), 1, 1, 1)[:count]
        model, target = loaded.model.eval(), 1
        ours = {
            "ours LRP epsilon_plus_flat": lambda: LRP(model, composite="epsilon_plus_flat").explain(inputs, target=target),
            "ours DeepLift": lambda: DeepLift(model).explain(inputs, target=target),
        }
        candidates = {**ours, "floor": floor(model, inputs, target)}
        errors = {}
        for label, function in peers(model, inputs, target).items():
            try:
                function()
                candidates[label] = function
            except Exception as error:  # a peer that cannot run this model is a finding, not a crash
                errors[label] = f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"
        for function in candidates.values():
            function()  # warm-up
        times = interleaved_rounds(candidates, args.repeats)
        print(f"\n{name}, {count} inputs")
        for label in ours:
            peer_ratios = "  ".join(f"ours/{peer} {paired_ratio(times[label], times[peer]):.2f}"
                                    for peer in candidates if peer not in ours and peer != "floor")
            print(f"  {label:28s} {min(times[label]):7.3f}s  ours/floor {paired_ratio(times[label], times['floor']):.2f}  "
                  f"{peer_ratios}")
        for label in candidates:
            if label not in ours:
                print(f"  {label:28s} {min(times[label]):7.3f}s")
        for label, error in errors.items():
            print(f"  {label:28s} cannot run: {error}")


if __name__ == "__main__":
    main()
