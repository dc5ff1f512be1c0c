"""load_model: a user's model from a file or an import path, with what the report must say about it.

Nothing that can run code hidden in a file is loaded unless the user says they trust the file:
pickles (.pkl, .joblib, torch.save .pt), TorchScript and torch.export archives all run code while
they load (torch's own documentation says so for torch.jit.load and torch.export.load). ONNX,
skops files of scikit-learn parts, and safetensors weights are read as data.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .compiled_model import CompiledModule
from .model_files import existing_file, file_sha256, first_line, require_trust
from .import_path import build_model, import_module, is_estimator, is_import_path, load_weights, resolve_attribute, split_import_path
from .onnx_model import OnnxModel

FORMATS = ("import-path", "torchscript", "torch-export", "onnx", "skops", "pickle")
SUFFIXES = {
    ".pt": "torchscript", ".pth": "torchscript", ".ts": "torchscript", ".pt2": "torch-export", ".onnx": "onnx",
    ".skops": "skops", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "pickle",
}
SUFFIX_HELP = (".onnx, .pt/.pth/.ts (TorchScript), .pt2 (torch.export), .skops (scikit-learn), "
               ".pkl/.joblib (pickle, with --trust-pickle)")
# scikit-learn/numpy/scipy classes that skops does not trust by default are still library code
LIBRARY_PACKAGES = ("sklearn", "numpy", "scipy")
BLACK_BOX_NOTE = "a black box: only methods that read the model's outputs apply (no gradients, no layers)"
COMPILED_NOTE = ("a compiled {kind} model: gradient methods apply, but its layers are not reachable, "
                 "so layer methods (such as Grad-CAM) do not")
WITHOUT_TRUST = ("or export the model to ONNX (read without running code), "
                 "or give its class as an import path with .safetensors weights")


@dataclass
class LoadedModel:
    """A model read by `load_model` and its provenance.

    `model` is what `unboxed.adapt` takes: a torch module, a scikit-learn estimator or a callable.
    `sha256` is the model file's (for an import path, the weights file's, or None); `files` maps
    every file read to its SHA-256. `black_box` models give outputs only; `layers` says whether
    named layers can be hooked (layer methods apply). `notes` are sentences for the report.
    """

    model: Any = field(repr=False)
    format: str
    source: str
    sha256: str | None
    black_box: bool
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    layers: bool = False


def load_model(spec: str | Path, weights: str | Path | None = None, trust_pickle: bool = False,
               format: str | None = None) -> LoadedModel:
    """Load a model from a file (.onnx, .skops, .pt/.ts TorchScript, .pt2 torch.export, pickles)
    or from an import path `package.module:factory` / `models/net.py:Net` with .safetensors `weights`.

    `format` (one of FORMATS) overrides the guess from the suffix. Files that run code while they
    load (pickles, TorchScript, torch.export) need `trust_pickle=True` and then warn.

    >>> loaded = load_model("torch.nn:Identity")
    >>> loaded.format, loaded.black_box, loaded.sha256, type(loaded.model).__name__
    ('import-path', False, None, 'Identity')
    """
    source = str(spec)
    kind = _format_of(source, format)
    if kind == "import-path":
        return _load_import_path(source, weights, trust_pickle)
    if weights is not None:
        raise InputError(f"--weights goes with an import path (module:Class); {Path(source).name} holds its own weights")
    return LOADERS[kind](existing_file(source), source, trust_pickle)


def _format_of(source: str, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise InputError(f"unknown model format {format!r}; choose from {', '.join(FORMATS)}")
        return format
    if is_import_path(source):
        return "import-path"
    path = existing_file(source)
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(
            f"cannot tell the format of {path.name} from its suffix {path.suffix or '(none)'}: use {SUFFIX_HELP}, "
            "or name a Python object as module:attribute"
        )
    return SUFFIXES[path.suffix.lower()]


def _load_import_path(source: str, weights: str | Path | None, trust_pickle: bool) -> LoadedModel:
    module_name, attribute = split_import_path(source)
    module, module_file = import_module(module_name, source)
    model, how = build_model(resolve_attribute(module, attribute, source), source)
    notes, files, sha256 = [how], {}, None
    if module_file is not None:
        files[str(module_file)] = file_sha256(module_file)
    if weights is not None:
        weights_path, sha256, weight_notes = load_weights(model, weights, source, trust_pickle)
        files[str(weights_path)] = sha256
        notes += weight_notes
    is_torch = isinstance(model, nn.Module)
    if is_torch:
        model.eval()
    else:
        notes.append(BLACK_BOX_NOTE)
    return LoadedModel(model, "import-path", source, sha256, not is_torch, notes, files, layers=is_torch)


# --- torch files ----------------------------------------------------------------------------------
def torch_file_kind(path: Path) -> str:
    """What a file is, read from its first byte or its zip table of contents without loading it:
    'torchscript', 'torch-export', 'torch-save' (a zip archive of pickles, as torch.save writes),
    'pickle' (a plain pickle, or torch.save's legacy format) or 'unknown'."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any("/code/" in name for name in names) and any(name.endswith("data.pkl") for name in names):
            return "torchscript"
        if any(name.endswith("/archive_format") or ("/models/" in name and name.endswith(".json")) for name in names):
            return "torch-export"
        return "torch-save" if any(name.endswith("data.pkl") for name in names) else "unknown"
    with open(path, "rb") as stream:
        return "pickle" if stream.read(1) == b"\x80" else "unknown"  # \x80: a pickle's first byte (protocol 2+)


def _load_torch_file(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    """A .pt/.pth/.ts file: TorchScript, or what torch.save wrote (a pickle), told apart by content."""
    kind = torch_file_kind(path)
    if kind == "unknown":
        raise InputError(f"{path.name} is neither a TorchScript archive nor a torch.save file")
    return CONTENT_LOADERS[kind](path, source, trust_pickle)


def _load_torchscript(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    if torch_file_kind(path) != "torchscript":
        raise InputError(f"{path.name} is not a TorchScript archive (torch.jit.save writes one)")
    note = require_trust(path, "a TorchScript archive", trust_pickle, WITHOUT_TRUST)
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():  # torch 2.13 calls torch.jit deprecated; existing files still load
            warnings.filterwarnings("ignore", message=r".*torch\.jit.* is deprecated", category=DeprecationWarning)
            module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as error:  # torch.jit raises RuntimeError and friends with long C++ traces
        raise InputError(f"torch.jit.load could not read {path.name}: {first_line(error)}") from None
    module.eval()
    return _compiled(CompiledModule(module, "TorchScript"), "torchscript", source, data, path, note)


def _load_torch_export(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    if torch_file_kind(path) != "torch-export":
        raise InputError(f"{path.name} is not a torch.export archive (torch.export.save writes one)")
    note = require_trust(path, "a torch.export archive", trust_pickle, WITHOUT_TRUST)
    data = path.read_bytes()
    try:
        program = torch.export.load(io.BytesIO(data))
        module = program.module()
    except Exception as error:  # deserialisation errors come from deep inside torch
        raise InputError(f"torch.export.load could not read {path.name}: {first_line(error)}") from None
    for submodule in module.modules():
        submodule.training = False  # exported graphs refuse .eval(); their mode was fixed at export
    batch_size = exported_batch_size(program)
    wrapped = CompiledModule(module, "torch.export", batch_size=batch_size)
    loaded = _compiled(wrapped, "torch-export", source, data, path, note)
    if batch_size is not None:
        loaded.notes.append(f"the program was exported for batches of exactly {batch_size}: inputs run {batch_size} at a time")
    return loaded


def exported_batch_size(program: Any) -> int | None:
    """The fixed batch size an ExportedProgram was traced for, or None when the batch is free."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            shape = getattr(node.meta.get("val"), "shape", None)
            if shape is not None and len(shape) and isinstance(shape[0], int):
                return int(shape[0])
            return None
    return None


def _compiled(model: CompiledModule, kind: str, source: str, data: bytes, path: Path, note: str) -> LoadedModel:
    sha256 = _sha256(data)
    notes = [note, COMPILED_NOTE.format(kind=model.kind)]
    return LoadedModel(model, kind, source, sha256, False, notes, {str(path): sha256}, layers=False)


def _load_torch_pickle(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    note = require_trust(
        path, "a pickled torch object (torch.save), not TorchScript", trust_pickle,
        "or give the model's class as an import path (models/net.py:Net) with its weights in a .safetensors file",
    )
    data = path.read_bytes()
    try:
        found = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)  # after require_trust above
    except RuntimeError as error:
        if "magic number" not in str(error):
            raise InputError(f"unpickling {path.name} failed: {first_line(error)}") from None
        found = _unpickle(data, path)  # a plain pickle named .pt
    except Exception as error:  # unpickling raises whatever the file's objects raise
        raise InputError(f"unpickling {path.name} failed: {type(error).__name__}: {error}") from None
    if isinstance(found, dict) and found and all(isinstance(value, torch.Tensor) for value in found.values()):
        raise InputError(
            f"{path.name} holds only weights (a state_dict): give the model's class as an import path "
            f"and this file as weights, e.g. models/net.py:Net --weights {path.name}"
        )
    return _unpickled(found, path, source, data, note)


# --- pickles -------------------------------------------------------------------------------------
def _load_pickle(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    """A .pkl/.pickle/.joblib file; torch archives under these names go to the torch loaders."""
    kind = torch_file_kind(path)
    if kind in ("torchscript", "torch-export", "torch-save"):
        return CONTENT_LOADERS[kind](path, source, trust_pickle)
    note = require_trust(
        path, "a pickle", trust_pickle,
        "or save a scikit-learn model with skops (unboxed.loading.save_model(model, 'model.skops'))",
    )
    data = path.read_bytes()
    return _unpickled(_unpickle(data, path), path, source, data, note)


def _unpickle(data: bytes, path: Path) -> Any:
    try:
        if path.suffix.lower() == ".joblib":
            import joblib

            return joblib.load(io.BytesIO(data))
        return pickle.loads(data)
    except Exception as error:  # unpickling raises whatever the file's objects raise
        raise InputError(f"unpickling {path.name} failed: {type(error).__name__}: {error}") from None


def _unpickled(found: Any, path: Path, source: str, data: bytes, note: str) -> LoadedModel:
    sha256 = _sha256(data)
    is_torch = isinstance(found, nn.Module)
    if is_torch:
        found.eval()
    elif not (is_estimator(found) or callable(found)):
        raise InputError(f"{path.name} holds a {type(found).__name__}, not a torch module, scikit-learn model or function")
    notes = [note] + ([] if is_torch else [BLACK_BOX_NOTE])
    return LoadedModel(found, "pickle", source, sha256, not is_torch, notes, {str(path): sha256}, layers=is_torch)


# --- data formats: ONNX and skops ----------------------------------------------------------------
def _load_onnx(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    sha256 = file_sha256(path)
    model = OnnxModel(path, label=f"{path.name} (ONNX, sha256 {sha256[:12]})")
    notes = [f"ONNX model run by onnxruntime on the CPU, {BLACK_BOX_NOTE}"]
    if model.batch_size is not None:
        notes.append(f"the ONNX model takes exactly {model.batch_size} rows per call: inputs run {model.batch_size} at a time")
    if len(model.output_names) > 1:
        notes.append(f"scores are the ONNX output {model.output_name!r} (outputs: {', '.join(model.output_names)})")
    return LoadedModel(model, "onnx", source, sha256, True, notes, {str(path): sha256})


def _load_skops(path: Path, source: str, trust_pickle: bool) -> LoadedModel:
    try:
        import skops.io as skops_io
    except ImportError:
        raise InputError("reading .skops models needs skops: pip install 'unboxed[formats]'") from None
    try:
        untrusted = skops_io.get_untrusted_types(file=path)
    except Exception as error:  # zip, JSON and schema errors from skops
        raise InputError(f"{path.name} is not a readable skops file: {first_line(error)}") from None
    library = [name for name in untrusted if is_library_type(name)]
    foreign = [name for name in untrusted if name not in library]
    notes = ["scikit-learn model read with skops (no pickle)"]
    if foreign:
        what = f"a skops file holding types outside scikit-learn, numpy and scipy ({', '.join(foreign)})"
        notes.append(require_trust(path, what, trust_pickle, "or rebuild the model from scikit-learn parts only"))
    if library:
        notes.append(f"library types skops does not trust by default, trusted as scikit-learn/numpy/scipy code: {', '.join(library)}")
    try:
        model = skops_io.load(path, trusted=untrusted)
    except Exception as error:  # skops re-raises what constructing the objects raised
        raise InputError(f"skops could not load {path.name}: {type(error).__name__}: {error}") from None
    if not (is_estimator(model) or callable(model)):
        raise InputError(f"{path.name} holds a {type(model).__name__}, not a scikit-learn model")
    sha256 = file_sha256(path)
    return LoadedModel(model, "skops", source, sha256, True, notes + [BLACK_BOX_NOTE], {str(path): sha256})


def is_library_type(name: str) -> bool:
    """Whether a type name skops reports is a class (or numpy ufunc) of scikit-learn, numpy or scipy.

    >>> is_library_type("numpy.float64"), is_library_type("posix.system"), is_library_type("numpy.nothing")
    (True, False, False)
    """
    parts = name.split(".")
    if parts[0] not in LIBRARY_PACKAGES:
        return False
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except Exception:  # not a module at this depth: try a shorter prefix
            continue
        for part in parts[split:]:
            found = getattr(found, part, None)
        return isinstance(found, (type, np.ufunc))
    return False


CONTENT_LOADERS = {
    "torchscript": _load_torchscript, "torch-export": _load_torch_export, "torch-save": _load_torch_pickle,
    "pickle": _load_torch_pickle,
}
LOADERS = {
    "torchscript": _load_torch_file, "torch-export": _load_torch_export, "onnx": _load_onnx,
    "skops": _load_skops, "pickle": _load_pickle,
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
