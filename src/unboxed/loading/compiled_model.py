"""A compiled torch model (TorchScript or torch.export) behind a plain nn.Module.

The adapter measures memory and reaches layers with forward hooks, which ScriptModules refuse and
torch.export graphs never fire (their layers are inlined into one graph). So the compiled module is
kept out of the module tree and run as one step; its weights are shared as this module's own
parameters, so devices, dtypes, fingerprints and gradients still work.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch import nn


class CompiledModule(nn.Module):
    """Runs `compiled` (a ScriptModule or an unlifted torch.export module) as one opaque step.

    `kind` names the format for messages. `batch_size`, when the program was compiled for a fixed
    number of rows, makes every call run that many rows at a time (the last call padded).

    >>> import torch
    >>> compiled = torch.nn.Linear(3, 2)  # stands in for torch.export.load(...).module(), slow to make
    >>> wrapped = CompiledModule(compiled, "torch.export", batch_size=4)
    >>> wrapped(torch.ones(6, 3)).shape, sorted(name for name, _ in wrapped.named_parameters())
    (torch.Size([6, 2]), ['bias', 'weight'])
    """

    def __init__(self, compiled: nn.Module, kind: str, batch_size: int | None = None):
        super().__init__()
        object.__setattr__(self, "compiled", compiled)  # not a submodule: hooks must not reach it
        self.kind = kind
        self.batch_size = batch_size
        self._share_tensors()

    def _share_tensors(self) -> None:
        # the same tensor objects, so a change made through this module reaches the compiled one
        self._parameters.clear()
        self._buffers.clear()
        for name, parameter in self.compiled.named_parameters():
            self._parameters[name] = parameter
        for name, buffer in self.compiled.named_buffers():
            self._buffers[name] = buffer

    def _apply(self, fn: Callable, recurse: bool = True) -> "CompiledModule":
        self.compiled._apply(fn)  # .to(device), .double() and the like act on the compiled module
        self._share_tensors()
        return self

    def __deepcopy__(self, memo: dict) -> "CompiledModule":
        # copy the compiled module, then share its new tensors (a plain copy would copy them twice)
        with warnings.catch_warnings():  # torch's own pytree code warns while exported graphs are copied
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            compiled = copy.deepcopy(self.compiled, memo)
        twin = CompiledModule(compiled, self.kind, self.batch_size)
        twin.training = self.training
        memo[id(self)] = twin
        return twin

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.batch_size is None:
            return self.compiled(inputs)
        return run_in_fixed_batches(self.compiled, inputs, self.batch_size)

    def extra_repr(self) -> str:
        return f"{self.kind}" + (f", batch_size={self.batch_size}" if self.batch_size else "")


def run_in_fixed_batches(run: Callable[[Any], Any], batch: Any, size: int) -> Any:
    """`run` on `batch`, `size` rows per call, for models compiled for exactly `size` rows.

    The last chunk is padded with copies of its last row; their outputs are dropped.
    Works on torch tensors and numpy arrays alike.

    >>> import numpy as np
    >>> run_in_fixed_batches(lambda rows: rows * 2, np.arange(5.0)[:, None], 2)[:, 0]
    array([0., 2., 4., 6., 8.])
    """
    is_tensor = isinstance(batch, torch.Tensor)
    join = torch.cat if is_tensor else np.concatenate
    outputs = []
    for start in range(0, len(batch), size):
        chunk = batch[start : start + size]
        missing = size - len(chunk)
        if missing:
            padding = chunk[-1:].expand(missing, *chunk.shape[1:]) if is_tensor else np.repeat(chunk[-1:], missing, axis=0)
            chunk = join([chunk, padding])
        outputs.append(run(chunk)[: size - missing])
    return join(outputs)
