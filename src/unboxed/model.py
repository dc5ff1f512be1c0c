"""ModelAdapter: the only place that knows how to call a model.

It evaluates in batches under a memory budget, resolves targets, finds layers by name, and runs
every explanation inside `preserved()`, which puts the model back exactly as it was: hooks, modes,
requires_grad, .grad and buffers, even when the explanation raises.
"""
from __future__ import annotations

import difflib
import hashlib
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .errors import InputError, LayerNotFoundError, ModelAccessError
from .targets import Target, TargetLike, index_target, resolve_target
from .validation import as_tensor

DEFAULT_MEMORY_BUDGET = 2 * 1024**3
# On a CPU a model call has a fixed cost (Python and kernel dispatch per layer), so batches take at
# least CPU_MIN_CHUNK samples; past that they grow only while their activations fit in about
# CPU_CACHE_BYTES, beyond which they lose the caches (measured: the digits CNN is fastest at ~128
# images; the breast-cancer MLP at 8k rows, 34 ms per million, where 16k rows, past a 2 MB L2 per core,
# took 36-112 ms from run to run). Forward-only calls free each activation as soon as the
# next layer has it, so they stay fast only while a call holds at most CPU_FORWARD_BYTES: EfficientNet-
# Lite0 forwards run 2.7x faster 2 photos at a time than 8-12; with gradients, 8 per call is fastest.
CPU_MIN_CHUNK = 128
CPU_CACHE_BYTES = 8 * 2**20
CPU_FORWARD_BYTES = 384 * 2**20
# Batches that are not tensors (texts) cannot be sized by memory: this many per model call.
DEFAULT_OBJECT_BATCH = 512
# Per-module caches that die with the module: weight fingerprints and activation-size probes.
_FINGERPRINTS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()
_PROBES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()
_PRESERVING: "weakref.WeakKeyDictionary[nn.Module, int]" = weakref.WeakKeyDictionary()  # open preserved() blocks
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
)


def adapt(model: Any, **settings) -> "ModelAdapter":
    """Wrap any supported model in a ModelAdapter (an adapter is returned as it is).

    Torch modules get gradients and layers; scikit-learn estimators (via `predict_proba`, then
    `decision_function`, then `predict`) and plain callables `f(batch) -> scores` are black boxes.

    >>> import torch
    >>> adapter = adapt(torch.nn.Linear(3, 2))
    >>> adapter.has_gradients, adapter.predict(torch.ones(4, 3)).shape
    (True, torch.Size([4, 2]))
    """
    if isinstance(model, ModelAdapter):
        return model
    if isinstance(model, nn.Module):
        return TorchAdapter(model, **settings)
    for method in ("predict_proba", "decision_function", "predict"):
        if hasattr(model, method) and hasattr(model, "fit"):
            return CallableAdapter(getattr(model, method), name=type(model).__name__, numpy_io=True, **settings)
    if callable(model):
        return CallableAdapter(model, **settings)
    raise InputError(f"cannot explain a {type(model).__name__}: give a torch nn.Module, a scikit-learn estimator or a callable")


class ModelAdapter:
    """Common interface over torch modules and black boxes. Use `adapt()` to make one."""

    has_gradients = False

    def __init__(self, batch_size: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise InputError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        if not isinstance(memory_budget, (int, float)) or memory_budget <= 0:
            raise InputError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
        self.batch_size = batch_size
        self.memory_budget = int(memory_budget)

    # --- what every adapter provides ------------------------------------------------------------
    device = torch.device("cpu")

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def bytes_per_sample(self, sample: torch.Tensor, with_grad: bool) -> int:
        """Estimated memory one sample costs in a forward (and backward) pass."""
        return int(sample[:1].numel() * sample.element_size() * (8 if with_grad else 4))

    @contextmanager
    def preserved(self) -> Iterator[None]:
        yield

    # --- shared machinery -----------------------------------------------------------------------
    def chunk_size(self, inputs: Any, with_grad: bool = False) -> int:
        """How many samples one model call may take: the user's batch_size, else the memory budget
        (on a CPU also a cache-sized cap). Inputs that are not tensors (texts) take a fixed count."""
        if self.batch_size is not None:
            return self.batch_size
        if not isinstance(inputs, torch.Tensor):
            return DEFAULT_OBJECT_BATCH
        per_sample = max(1, self.bytes_per_sample(inputs, with_grad))
        by_budget = max(1, self.memory_budget // per_sample)
        if self.device.type != "cpu":
            return by_budget
        by_cpu = max(CPU_MIN_CHUNK, CPU_CACHE_BYTES // per_sample)
        if not with_grad:
            by_cpu = min(by_cpu, CPU_FORWARD_BYTES // per_sample)
        return max(1, min(by_budget, by_cpu))

    def check_inputs(self, inputs: Any, name: str = "inputs") -> torch.Tensor:
        """Validate inputs (numeric, finite, non-empty) and move them to the model's device."""
        return as_tensor(inputs, name).to(self.device)

    def predict(self, inputs: Any) -> torch.Tensor:
        """Model outputs for `inputs`, evaluated in batches without gradients; shape (n, outputs)."""
        return self.outputs(self.check_inputs(inputs))

    def outputs(self, inputs: Any) -> torch.Tensor:
        """Model outputs for inputs already checked (a tensor, or an array of texts), in batches."""
        size = self.chunk_size(inputs)
        with self.preserved(), torch.no_grad():
            return torch.cat([self._call(inputs[i : i + size]) for i in range(0, len(inputs), size)])

    def evaluate(self, batch: Any, target: Target) -> torch.Tensor:
        """Target scores for one batch of model inputs built by the library (no checks, one call)."""
        with self.preserved(), torch.no_grad():
            return target.select(self._call(batch))

    def scores(self, inputs: torch.Tensor, target: Target) -> torch.Tensor:
        """The explained score per sample, batched and without gradients; shape (n,)."""
        size = self.chunk_size(inputs)
        with self.preserved(), torch.no_grad():
            return torch.cat(
                [target.take(slice(i, i + size)).select(self._call(inputs[i : i + size])) for i in range(0, len(inputs), size)]
            )

    def resolve_target(self, inputs: torch.Tensor, target: TargetLike) -> Target:
        """Check `target` against the model's outputs on `inputs` (argmax when None).

        Explicit indices need only the output width, so one sample is evaluated, not the batch.
        """
        if target is None or (callable(target) and not isinstance(target, torch.Tensor)):
            return resolve_target(target, self.predict(inputs))
        shape = self.output_shape(inputs)
        return index_target(target, len(inputs), int(np.prod(shape)))

    def output_shape(self, inputs: torch.Tensor) -> tuple[int, ...]:
        """Shape of the model's output for one sample like `inputs[0]`."""
        return tuple(self.predict(inputs[:1]).shape[1:])

    def _call(self, batch: torch.Tensor) -> torch.Tensor:
        outputs = self._forward(batch)
        if not isinstance(outputs, torch.Tensor):
            outputs = torch.as_tensor(np.asarray(outputs), device=getattr(batch, "device", None))
        if outputs.ndim == 1:
            outputs = outputs[:, None]
        if outputs.shape[0] != batch.shape[0]:
            raise InputError(f"the model returned {outputs.shape[0]} rows for a batch of {batch.shape[0]}")
        return outputs

    def require_gradients(self, method: str) -> None:
        if not self.has_gradients:
            raise ModelAccessError(
                f"{method} needs gradients, but this model is a black box ({self.name}); "
                "give a torch nn.Module, or use a model-agnostic method such as occlusion"
            )

    name = "model"


class CallableAdapter(ModelAdapter):
    """A black box: any `f(batch) -> scores`. With `numpy_io`, it gets and returns numpy arrays."""

    def __init__(self, function: Callable, name: str | None = None, numpy_io: bool = True, **settings):
        super().__init__(**settings)
        self.function = function
        self.numpy_io = numpy_io
        self.name = name or getattr(function, "__qualname__", type(function).__name__)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.numpy_io or not isinstance(batch, torch.Tensor):
            outputs = self.function(batch)
            return outputs if isinstance(outputs, torch.Tensor) else torch.as_tensor(np.asarray(outputs, dtype=float))
        outputs = np.asarray(self.function(batch.cpu().numpy()))
        return torch.as_tensor(outputs, dtype=batch.dtype if np.issubdtype(outputs.dtype, np.floating) else None)

    def fingerprint(self) -> str:
        owner = getattr(self.function, "__self__", None)
        described = repr(owner.get_params()) if hasattr(owner, "get_params") else self.name
        for attribute in ("coef_", "intercept_", "feature_importances_", "coefs_"):
            value = getattr(owner, attribute, None)
            if value is not None:
                described += repr(np.asarray(value, dtype=object).tolist())
        return hashlib.sha256(described.encode()).hexdigest()[:16]


class TorchAdapter(ModelAdapter):
    """A torch nn.Module: gradients, layers and hooks, always restored afterwards.

    Explanations run the model in eval mode (dropout off, BatchNorm on running statistics) unless
    `eval_mode=False`; the module's own modes are put back when the explanation ends.
    """

    has_gradients = True

    def __init__(self, module: nn.Module, eval_mode: bool = True, **settings):
        super().__init__(**settings)
        self.module = module
        self.eval_mode = eval_mode
        self.name = type(module).__name__
        self._probe_cache = _PROBES.setdefault(module, {})

    def _walk(self) -> tuple[list[nn.Module], list[torch.Tensor], list[torch.Tensor]]:
        """Every submodule, parameter and buffer, each once. Read from the modules' own dicts:
        this runs on every call, where nn.Module's generators cost as much as a small model's pass."""
        modules = list(self.module.modules())
        params = {id(p): p for m in modules for p in m._parameters.values() if p is not None}
        buffers = {id(b): b for m in modules for b in m._buffers.values() if b is not None}
        return modules, list(params.values()), list(buffers.values())

    def _first_tensor(self) -> torch.Tensor | None:
        for module in self.module.modules():
            for tensor in (*module._parameters.values(), *module._buffers.values()):
                if tensor is not None:
                    return tensor
        return None

    @property
    def device(self) -> torch.device:
        tensor = self._first_tensor()
        return tensor.device if tensor is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        tensor = self._first_tensor()
        return tensor.dtype if tensor is not None and tensor.is_floating_point() else torch.get_default_dtype()

    def check_inputs(self, inputs: Any, name: str = "inputs") -> torch.Tensor:
        tensor = self._first_tensor()
        if tensor is None:
            return as_tensor(inputs, name)
        dtype = tensor.dtype if tensor.is_floating_point() else torch.get_default_dtype()
        return as_tensor(inputs, name).to(device=tensor.device, dtype=dtype)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        try:
            return self.module(batch)
        except RuntimeError as error:
            if any(word in str(error) for word in ("shape", "size", "dimension", "channels", "Expected")):
                raise InputError(
                    f"the model cannot take inputs of shape {tuple(batch.shape[1:])} per sample: {str(error).splitlines()[0]}"
                ) from None
            raise

    def fingerprint(self) -> str:
        """Hash of the weights; recomputed only when a tensor was replaced or changed in place."""
        _, params, buffers = self._walk()
        versions = tuple((id(tensor), tensor.data_ptr(), tensor._version) for tensor in (*params, *buffers))
        known = _FINGERPRINTS.get(self.module)
        if known is None or known[0] != versions:
            digest = hashlib.sha256(self.name.encode())
            for key, tensor in (*self.module.named_parameters(), *self.module.named_buffers()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            known = _FINGERPRINTS[self.module] = (versions, digest.hexdigest()[:16])
        return known[1]

    # --- layers ---------------------------------------------------------------------------------
    def layer(self, name: str | nn.Module) -> nn.Module:
        """The submodule with dotted name `name` (a module is returned as it is)."""
        if isinstance(name, nn.Module):
            return name
        try:
            return self.module.get_submodule(name) if name else self.module
        except AttributeError:
            pass
        modules = dict(self.module.named_modules())
        if name not in modules:
            names = [n for n in modules if n]
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"layers include {', '.join(names[:8])}, ..."
            raise LayerNotFoundError(f"the model has no layer named {name!r}; {hint}")
        return modules[name]

    def layer_names(self, kind: type | tuple[type, ...] = nn.Module) -> list[str]:
        """Dotted names of the submodules of type `kind`, in definition order."""
        return [n for n, m in self.module.named_modules() if n and isinstance(m, kind)]

    # --- restoring the model --------------------------------------------------------------------
    @contextmanager
    def preserved(self) -> Iterator[None]:
        """Run a block and put the model back as it was, whatever happens inside.

        Re-entrant: inside an outer `preserved()` of the same module the outer one restores, so a
        loop of many small model calls can hold one session instead of a snapshot per call.
        """
        if _PRESERVING.get(self.module, 0):
            _PRESERVING[self.module] += 1
            try:
                yield
            finally:
                _PRESERVING[self.module] -= 1
            return
        _PRESERVING[self.module] = 1
        try:
            with self._snapshot():
                yield
        finally:
            _PRESERVING[self.module] = 0

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        modules, params, buffers = self._walk()
        modes = [m.training for m in modules]
        # hook handles take ids from one global counter: any hook at or past it was added inside
        first_new_hook = RemovableHandle.next_id
        requires = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        buffers = [(b, b.detach().clone()) for b in buffers]
        if self.eval_mode and any(modes):
            self.module.eval()
        try:
            yield
        finally:
            for module, mode in zip(modules, modes):
                if module.training != mode:
                    module.training = mode
                for attr in _HOOK_DICTS:
                    registry = getattr(module, attr, None)
                    if registry:
                        for key in [k for k in registry if k >= first_new_hook]:
                            del registry[key]
            for param, requires_grad, grad in zip(params, requires, grads):
                param.requires_grad_(requires_grad)
                param.grad = grad
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)

    # --- gradients ------------------------------------------------------------------------------
    def bytes_per_sample(self, sample: torch.Tensor, with_grad: bool) -> int:
        """Activation memory one sample keeps: every module's output, added up in a probe pass."""
        return self._probe(sample)[0] * (3 if with_grad else 2)

    def output_shape(self, inputs: torch.Tensor) -> tuple[int, ...]:
        return self._probe(inputs)[1]

    def _probe(self, sample: torch.Tensor) -> tuple[int, tuple[int, ...]]:
        """(activation bytes, output shape) of one sample, from one forward pass cached per input shape."""
        key = (tuple(sample.shape[1:]), sample.dtype)
        if key not in self._probe_cache:
            total = [sample[:1].numel() * sample.element_size()]

            def count(module, args, output):
                if isinstance(output, torch.Tensor):
                    total[0] += output.numel() * output.element_size()

            leaves = [m for m in self.module.modules() if not list(m.children())]
            with self.preserved(), torch.no_grad():
                handles = [m.register_forward_hook(count) for m in leaves]
                try:
                    outputs = self._call(sample[:1])
                finally:
                    for handle in handles:
                        handle.remove()
            self._probe_cache[key] = (total[0], tuple(outputs.shape[1:]))
        return self._probe_cache[key]

    def gradients(
        self,
        inputs: torch.Tensor,
        target: Target,
        layer: str | nn.Module | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """d score / d inputs (or d score / d layer output), batched under the memory budget.

        Returns (gradients, scores, activations); activations are the layer's outputs when `layer`
        is given, else None. Each sample's score depends on that sample only, so summing scores
        over a batch gives every sample's own gradient in one backward pass.

        For a layer, the graph starts at the layer: weights do not require grad meanwhile (restored
        after) and the layer output is made a leaf, so nothing below the layer is kept for backward.
        """
        module = self.layer(layer) if layer is not None else None
        size = self.chunk_size(inputs, with_grad=module is None)
        grads, scores, activations = [], [], []
        with self.preserved():
            if module is not None:
                for param in self.module.parameters():
                    param.requires_grad_(False)
            for start in range(0, len(inputs), size):
                chunk = inputs[start : start + size].detach().requires_grad_(module is None)
                part_target = target.take(slice(start, start + size))
                grad, score, activation = self._chunk_gradient(chunk, part_target, module)
                grads.append(grad)
                scores.append(score)
                activations.append(activation)
        join = lambda parts: parts[0] if len(parts) == 1 else torch.cat(parts)  # noqa: E731
        return join(grads), join(scores), join(activations) if module is not None else None

    def _chunk_gradient(self, chunk, target, module):
        captured = []

        def layer_name():
            return next(n for n, m in self.module.named_modules() if m is module)

        def keep(_module, _args, output):
            if not isinstance(output, torch.Tensor):
                raise InputError(f"layer {layer_name()!r} returns {type(output).__name__}, not a tensor")
            if captured:
                raise InputError(f"layer {layer_name()!r} is called more than once per forward pass; pick a layer that is used once")
            # the backward stops at this leaf; the model goes on with a copy that in-place ops may change
            leaf = output.detach().requires_grad_(True)
            captured.append(leaf)
            return leaf.clone()

        handle = module.register_forward_hook(keep) if module is not None else None
        try:
            with torch.enable_grad():
                score = target.select(self._call(chunk))
                wrt = captured[0] if module is not None else chunk
                if not wrt.requires_grad:
                    raise ModelAccessError("the score does not depend on the inputs through differentiable operations")
                (grad,) = torch.autograd.grad(score.sum(), wrt)
        finally:
            if handle is not None:
                handle.remove()
        return grad.detach(), score.detach(), captured[0].detach() if module is not None else None


def describe_model(adapter: ModelAdapter) -> dict[str, Any]:
    """Provenance of a model: what it is and a fingerprint of its weights."""
    return {"model": adapter.name, "model_fingerprint": adapter.fingerprint(), "gradients": adapter.has_gradients}

