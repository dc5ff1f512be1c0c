"""A time budget for the audit ("90s", "5m"): turned into samples per case by timing the model.

The sampling methods (Kernel SHAP, LIME, ...) and the checks that re-run them cost model calls in
proportion to the samples per case; everything else (gradients, deletion curves) does not. One
batched call on the data measures the seconds per model input; the samples are then the most that
keep the sampling work within a share of the budget. It is an estimate, and the report says what
was chosen and why.
"""
from __future__ import annotations

import re
import time

import torch

from ..errors import InputError
from ..model import adapt
from .subject import Subject

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
SAMPLING_SHARE = 0.6  # of the budget, for the sampling methods (the rest: gradients, curves, drawing)
# model calls per sample per case for one sampling method: the explanation, 3 seeds, 3 randomisation
# steps and a random class
RUNS_PER_METHOD = 8
MIN_SAMPLES, MAX_SAMPLES = 16, 4000
PROBE_INPUTS = 64


def parse_duration(text: str) -> float | None:
    """Seconds in "90s", "5m", "1.5h" (None for a plain number: samples, not time).

    >>> parse_duration("90s"), parse_duration("5m"), parse_duration("200")
    (90.0, 300.0, None)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", str(text))
    if match is None:
        if re.fullmatch(r"\s*\d+\s*", str(text)):
            return None
        raise InputError(f"budget must be model evaluations per case (e.g. 500) or a time (e.g. 90s, 5m); got {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def seconds_per_input(subject: Subject) -> float:
    """One batched, timed call of the model on up to 64 of the data's inputs (after a warm-up)."""
    adapter = adapt(subject.model)
    inputs = subject.inputs[:PROBE_INPUTS]
    batch = adapter.check_inputs(inputs) if isinstance(inputs, torch.Tensor) else list(inputs)
    adapter.outputs(batch[:2])
    started = time.perf_counter()
    adapter.outputs(batch)
    return (time.perf_counter() - started) / len(batch)


def samples_for(seconds: float, subject: Subject, sampling_methods: int, cases: int, global_rows: int) -> int:
    """Samples per case that keep the sampling work within `SAMPLING_SHARE` of `seconds`."""
    background = len(subject.background) if subject.layout == "tabular" and subject.background is not None else 1
    calls_per_sample = background * (min(global_rows, len(subject.data)) + RUNS_PER_METHOD * cases * max(sampling_methods, 1))
    affordable = SAMPLING_SHARE * seconds / (seconds_per_input(subject) * calls_per_sample)
    return int(min(MAX_SAMPLES, max(MIN_SAMPLES, affordable)))
