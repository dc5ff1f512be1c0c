"""An ONNX model run by onnxruntime, as a black-box callable: a batch in, a tensor of scores out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .compiled_model import run_in_fixed_batches
from .model_files import first_line

# ONNX input element types and the numpy dtype a batch is cast to before the call
NUMERIC_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}
SCORE_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")


def import_onnxruntime():
    """onnxruntime, or a clear error naming what to install."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("running ONNX models needs onnxruntime: pip install 'unboxed[formats]'") from None
    return onnxruntime


class OnnxModel:
    """An ONNX file run by onnxruntime on the CPU: `model(batch)` takes a numpy array or a torch
    tensor (n, ...) and returns the scores as a torch tensor (n, outputs).

    The model must take one numeric tensor whose first dimension is the batch. When that dimension
    is fixed (a model exported for, say, 1 row), rows run that many at a time. When the model has
    several outputs, the scores are the first floating-point one (`output_name`).

    >>> import onnx, tempfile, torch
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "negate",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{folder}/neg.onnx")
    ...     model = OnnxModel(f"{folder}/neg.onnx")
    >>> model(torch.ones(3, 2))[0], model.input_shape, model.batch_size
    (tensor([-1., -1.]), (2,), None)
    """

    def __init__(self, path: str | Path, label: str | None = None):
        path = Path(path)
        runtime = import_onnxruntime()
        options = runtime.SessionOptions()
        options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's concern
        try:
            # the CPU provider runs every ONNX file the same way, with or without a GPU build
            self.session = runtime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors for unreadable files
            raise InputError(f"{path.name} is not an ONNX model onnxruntime can run: {first_line(error)}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(spec.name for spec in inputs)
            raise InputError(f"{path.name} takes {len(inputs)} inputs ({names}); unboxed explains models that take one input tensor")
        (spec,) = inputs
        if spec.type not in NUMERIC_TYPES or not spec.shape:
            raise InputError(f"{path.name} takes a {spec.type} of shape {spec.shape}; unboxed runs ONNX models that take one numeric batch tensor")
        self.input_name = spec.name
        self.input_dtype = np.dtype(NUMERIC_TYPES[spec.type])
        first = spec.shape[0]
        self.batch_size = first if isinstance(first, int) and first > 0 else None
        # per-sample shape; None where the file leaves a dimension free
        self.input_shape = tuple(size if isinstance(size, int) else None for size in spec.shape[1:])
        self.output_name, self.output_names = _score_output(self.session.get_outputs(), path)
        # the adapter names (and fingerprints) a callable by its __qualname__
        self.__qualname__ = label or f"{path.name} (ONNX)"

    def __call__(self, batch: Any) -> torch.Tensor:
        array = _as_array(batch, self.input_dtype)
        if self.batch_size is None or len(array) == self.batch_size:
            return torch.from_numpy(self._run(array))
        return torch.from_numpy(run_in_fixed_batches(self._run, array, self.batch_size))

    def _run(self, array: np.ndarray) -> np.ndarray:
        try:
            (scores,) = self.session.run([self.output_name], {self.input_name: array})
        except Exception as error:  # onnxruntime's errors carry no common base class worth naming
            raise InputError(
                f"the ONNX model {self.__qualname__} rejected a batch of shape {array.shape} ({array.dtype}): {first_line(error)}"
            ) from None
        return np.ascontiguousarray(scores)

    def __repr__(self) -> str:
        return f"OnnxModel({self.__qualname__!r}, input_shape={self.input_shape}, output={self.output_name!r})"


def _as_array(batch: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(batch, torch.Tensor):
        batch = batch.detach().cpu().numpy()
    try:
        return np.ascontiguousarray(batch, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"the ONNX model takes numeric arrays ({dtype}); got {type(batch).__name__} that cannot be read as one") from None


def _score_output(outputs: list, path: Path) -> tuple[str, list[str]]:
    """The output that holds scores: the first floating-point tensor (classifiers converted from
    scikit-learn also output labels, and maps)."""
    names = [output.name for output in outputs]
    for output in outputs:
        if output.type in SCORE_TYPES:
            return output.name, names
    kinds = ", ".join(f"{output.name}: {output.type}" for output in outputs)
    raise InputError(f"{path.name} has no floating-point output to explain ({kinds})")
