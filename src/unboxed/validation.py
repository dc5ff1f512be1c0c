"""Checks shared by every method: one place that turns bad input into a clear error."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from .errors import InputError


def as_tensor(inputs: Any, name: str = "inputs", dtype: torch.dtype | None = None) -> torch.Tensor:
    """Turn array-likes into a float tensor and reject empty, non-numeric or non-finite data.

    >>> as_tensor([[1.0, 2.0]]).shape
    torch.Size([1, 2])
    """
    if isinstance(inputs, torch.Tensor):
        tensor = inputs.detach()
    else:
        try:
            array = np.asarray(inputs)
        except Exception as error:  # ragged lists and the like
            raise InputError(f"{name} could not be read as an array: {error}") from None
        if array.dtype == object or not np.issubdtype(array.dtype, np.number):
            raise InputError(f"{name} must be numeric, got dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if not tensor.is_floating_point():
        tensor = tensor.to(dtype or torch.get_default_dtype())
    elif dtype is not None:
        tensor = tensor.to(dtype)
    if tensor.ndim == 0:
        raise InputError(f"{name} must have a batch dimension, got a scalar")
    if tensor.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {tuple(tensor.shape)}): give at least one sample")
    check_finite(tensor, name)
    return tensor


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise if `tensor` holds NaN or inf, saying how many and where the first one is."""
    if tensor.is_floating_point() and bool(torch.isfinite(tensor.sum())):
        return  # NaN and inf reach the sum; only an overflowing sum needs the full check
    bad = ~torch.isfinite(tensor)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        kind = "NaN" if bool(torch.isnan(tensor).any()) else "inf"
        raise InputError(f"{name} contains {int(bad.sum())} non-finite value(s) ({kind}), first at index {first}")


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return `value` as an int, or raise if it is not an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_float(value: Any, name: str, allow_zero: bool = False) -> float:
    """Return `value` as a float, or raise if it is not a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Raise unless `value` is one of `choices`."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def broadcast_like(other: Any, inputs: torch.Tensor, name: str) -> torch.Tensor:
    """Broadcast a baseline-like tensor to the shape of `inputs`, with a clear error when it cannot."""
    tensor = torch.as_tensor(other, dtype=inputs.dtype, device=inputs.device)
    check_finite(tensor, name)
    try:
        return torch.broadcast_to(tensor, inputs.shape)
    except RuntimeError:
        raise InputError(
            f"{name} of shape {tuple(tensor.shape)} does not broadcast to the inputs' shape {tuple(inputs.shape)}"
        ) from None
