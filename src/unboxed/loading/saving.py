"""save_model: write a model in a format `load_model` reads (TorchScript, torch.export, ONNX, skops)."""
from __future__ import annotations

import importlib.util
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..errors import InputError
from .model_files import first_line
from .models import SUFFIXES

WRITABLE = ("torchscript", "torch-export", "onnx", "skops")


def save_model(model: Any, path: str | Path, format: str | None = None, example_inputs: Any = None) -> Path:
    """Write `model` to `path` in `format` (guessed from the suffix: .ts/.pt TorchScript, .pt2
    torch.export, .onnx, .skops); returns the path.

    Torch modules are written in eval mode with a free batch size. torch.export and ONNX need
    `example_inputs` (a batch); TorchScript traces with them, or compiles the code without.
    scikit-learn models are written with skops.

    >>> import tempfile
    >>> from unboxed.loading.models import torch_file_kind
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_model(torch.nn.Linear(3, 2), f"{folder}/linear.ts", example_inputs=torch.ones(2, 3))
    ...     path.name, torch_file_kind(path)
    ('linear.ts', 'torchscript')
    """
    path = Path(path)
    kind = format or SUFFIXES.get(path.suffix.lower())
    if kind not in WRITABLE:
        raise InputError(
            f"cannot write a model as {kind or path.suffix or path.name!r}: use .ts/.pt (TorchScript), .pt2 (torch.export), "
            ".onnx, or .skops (scikit-learn)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "skops":
        _write_skops(model, path)
        return path
    if not isinstance(model, nn.Module):
        raise InputError(f"{kind} files hold torch modules; save a {type(model).__name__} as .skops")
    example = _example(model, example_inputs, needed=kind != "torchscript", kind=kind)
    with _eval_mode(model):
        WRITERS[kind](model, path, example)
    return path


def _example(model: nn.Module, example_inputs: Any, needed: bool, kind: str) -> torch.Tensor | None:
    if example_inputs is None:
        if needed:
            raise InputError(f"writing {kind} needs example_inputs: a batch of inputs the model takes")
        return None
    example = torch.as_tensor(example_inputs)
    if example.ndim == 0:
        raise InputError("example_inputs must be a batch (n, ...), got a scalar")
    first = next(iter(model.parameters()), None)
    if first is not None:
        example = example.to(first.device)
    # a batch of one would be specialised to exactly one row: two rows keep the batch size free
    return torch.cat([example, example]) if len(example) == 1 else example


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _free_batch() -> tuple[dict, ...]:
    return ({0: torch.export.Dim("batch")},)


def _write_torchscript(model: nn.Module, path: Path, example: torch.Tensor | None) -> None:
    try:
        with warnings.catch_warnings():  # torch 2.13 calls torch.jit deprecated; many tools still read it
            warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated", category=DeprecationWarning)
            compiled = torch.jit.trace(model, example) if example is not None else torch.jit.script(model)
    except Exception as error:  # TorchScript's compile and trace errors come with long traces
        hint = "" if example is not None else "; pass example_inputs to trace it instead"
        raise InputError(f"TorchScript could not {'trace' if example is not None else 'compile'} {type(model).__name__}: {first_line(error)}{hint}") from None
    compiled.save(str(path))


def _write_torch_export(model: nn.Module, path: Path, example: torch.Tensor) -> None:
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=_free_batch())
    except Exception as error:  # export errors name guards and graph breaks deep inside torch
        raise InputError(f"torch.export could not export {type(model).__name__} with a free batch size: {first_line(error)}") from None
    torch.export.save(program, str(path))


def _write_onnx(model: nn.Module, path: Path, example: torch.Tensor) -> None:
    if importlib.util.find_spec("onnxscript") is None:  # torch.onnx's exporter is built on it
        raise InputError("writing ONNX needs onnx and onnxscript: pip install onnxscript")
    with _quiet_onnx_exporter():
        try:
            # the torch.export-based exporter (torch's default since 2.9); one file, weights inside
            torch.onnx.export(
                model, (example,), str(path), dynamo=True, external_data=False, verbose=False,
                input_names=["inputs"], output_names=["scores"], dynamic_shapes=_free_batch(),
            )
        except Exception as error:  # exporter errors come with long reports
            raise InputError(f"torch.onnx could not export {type(model).__name__}: {first_line(error)}") from None


@contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Hide the exporter's chatter: a log line per torchvision operator it cannot register (torchvision
    is not installed) and a FutureWarning from torch's own pytree code; neither concerns the user."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _write_skops(model: Any, path: Path) -> None:
    if isinstance(model, nn.Module):
        raise InputError("skops files hold scikit-learn models; save a torch module as .onnx, .pt2 or .ts")
    try:
        import skops.io as skops_io
    except ImportError:
        raise InputError("writing .skops models needs skops: pip install 'unboxed[formats]'") from None
    skops_io.dump(model, path)


WRITERS = {"torchscript": _write_torchscript, "torch-export": _write_torch_export, "onnx": _write_onnx}
