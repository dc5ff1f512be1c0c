"""A model named by an import path, `package.module:factory` or `models/net.py:Net`, with its weights
read from a safetensors file (never unpickled unless the user trusts the file)."""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from torch import nn

from ..errors import InputError
from .model_files import existing_file, file_sha256, require_trust

ATTRIBUTE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_import_path(spec: str) -> bool:
    """Whether `spec` reads as `module:attribute` (and is not a file that exists).

    >>> is_import_path("torch.nn:Linear"), is_import_path("models/net.py:Net"), is_import_path("model.onnx")
    (True, True, False)
    """
    module, colon, attribute = str(spec).rpartition(":")
    return bool(colon and module) and ATTRIBUTE.match(attribute) is not None and not Path(spec).exists()


def split_import_path(spec: str) -> tuple[str, str]:
    """(module or .py file, attribute path) of `spec`, or a clear error."""
    module, colon, attribute = spec.rpartition(":")
    if not colon or not module or ATTRIBUTE.match(attribute) is None:
        raise InputError(f"{spec!r} is not an import path: write module:attribute, e.g. mypackage.models:build or models/net.py:Net")
    return module, attribute


def import_module(module: str, spec: str) -> tuple[ModuleType, Path | None]:
    """The module named `module` (a dotted name, or a .py file); also the file when it is one."""
    if module.endswith(".py") or "/" in module or os.sep in module:
        path = existing_file(module, "Python file")
        return _import_file(path, spec), path
    with _on_path(Path.cwd()):  # `unboxed audit mymodels:Net` finds mymodels.py where the user stands
        try:
            return importlib.import_module(module), None
        except ModuleNotFoundError as error:
            if error.name and (module == error.name or module.startswith(error.name + ".")):
                raise InputError(
                    f"cannot import {module!r} (from {spec!r}): no module named {error.name!r}; check the name, "
                    "install the package, or give a file path such as models/net.py:Net"
                ) from None
            raise InputError(f"importing {module!r} failed: it needs {error.name!r}, which is not installed") from None
        except Exception as error:  # the user's module raised while it ran
            raise InputError(f"importing {module!r} failed: {type(error).__name__}: {error}") from None


def _import_file(path: Path, spec: str) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"unboxed_user_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise InputError(f"{path} cannot be imported as Python (from {spec!r})")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and typing look their module up by name
    with _on_path(path.parent.resolve()):  # the file may import its neighbours
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:  # the user's file raised while it ran
            del sys.modules[name]
            raise InputError(f"running {path} failed: {type(error).__name__}: {error}") from None
    return module


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def resolve_attribute(module: ModuleType, attribute: str, spec: str) -> Any:
    """`module.attribute` (dotted), or an error with the closest names the module has."""
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [name for name in dir(found) if not name.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            owner = getattr(found, "__name__", type(found).__name__)
            raise InputError(f"{owner!r} has no attribute {part!r} (from {spec!r}){hint}")
        found = getattr(found, part)
    return found


def is_estimator(thing: Any) -> bool:
    return not isinstance(thing, type) and hasattr(thing, "fit") and any(
        hasattr(thing, method) for method in ("predict_proba", "decision_function", "predict")
    )


def build_model(found: Any, spec: str) -> tuple[Any, str]:
    """The model `found` stands for, and how it was obtained.

    A module or estimator is used as it is; a class, or a function that takes no required
    argument, is called to build it; a function of one argument is a black box `f(batch) -> scores`.
    """
    if isinstance(found, nn.Module) or is_estimator(found):
        return _fitted(found, spec), f"model object {spec}"
    required = 0 if isinstance(found, type) or not callable(found) else _required_arguments(found)
    if required > 1:
        raise InputError(f"{spec} takes {required} required arguments: give a factory without arguments, or a function f(batch) -> scores")
    if isinstance(found, type) or (callable(found) and required == 0):
        try:
            built = found()
        except Exception as error:  # the user's factory raised
            raise InputError(
                f"calling {spec}() with no arguments failed ({type(error).__name__}: {error}); "
                "give a class or function that builds the model without arguments"
            ) from None
        if isinstance(built, nn.Module) or is_estimator(built) or callable(built):
            return _fitted(built, spec), f"model built by calling {spec}()"
        raise InputError(f"{spec}() returned a {type(built).__name__}, not a torch module, scikit-learn model or function")
    if callable(found):
        return found, f"black-box function {spec}(batch) -> scores"
    raise InputError(f"{spec} is a {type(found).__name__}, not a torch module, scikit-learn model, class or function")


def _fitted(model: Any, spec: str) -> Any:
    """The model, unless it is a scikit-learn estimator that was never fitted."""
    if is_estimator(model) and type(model).__module__.startswith("sklearn"):
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(model)
        except NotFittedError:
            raise InputError(f"{spec} gives a {type(model).__name__} that was never fitted: give a trained model") from None
    return model


def _required_arguments(function: Any) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: treat them as factories
        return 0
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


def load_weights(model: Any, weights: str | Path, spec: str, trust_pickle: bool) -> tuple[Path, str, list[str]]:
    """Load a state_dict file into `model` (strict); returns (path, sha256, notes).

    .safetensors files are read with safetensors; a torch.save file of tensors only is read with
    torch's restricted unpickler (`weights_only=True`, which runs no code); anything else in a
    pickle is read only with `trust_pickle`.
    """
    path = existing_file(weights, "weights file")
    if not isinstance(model, nn.Module):
        raise InputError(f"weights go into a torch module, but {spec} gives a {type(model).__name__}")
    sha256 = file_sha256(path)
    if path.suffix.lower() == ".safetensors":
        state, notes = _read_safetensors(path), [f"weights read from {path.name} with safetensors"]
    else:
        state = _read_tensors_only(path)
        if state is not None:
            notes = [f"weights read from {path.name} with torch's restricted unpickler (tensors only, no code run)"]
        else:
            note = require_trust(path, "a torch pickle of weights", trust_pickle,
                                 "or convert it once: safetensors.torch.save_file(torch.load(path), 'weights.safetensors')")
            state, notes = _read_torch_pickle(path), [note]
    check_state_dict(model, state, path, spec)
    model.load_state_dict(state, strict=True)
    return path, sha256, notes


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path.name} is not a readable safetensors file: {error}") from None


def _read_tensors_only(path: Path) -> dict | None:
    """A torch.save'd state_dict read by torch's restricted unpickler (no code runs), or None when the
    file holds anything that unpickler refuses."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # refused (other objects) or not a torch file: the caller decides
        return None
    return state if isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()) else None


def _read_torch_pickle(path: Path) -> dict:
    import torch

    try:
        # reached only after require_trust (--trust-pickle): the restricted unpickler already refused this file
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # unpickling raises whatever the file's objects raise
        raise InputError(f"unpickling {path.name} failed: {type(error).__name__}: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = ", ".join(map(str, list(state)[:5])) if isinstance(state, dict) else type(state).__name__
        raise InputError(f"{path.name} holds {keys}, not a state_dict of tensors: save model.state_dict() itself")
    return state


def check_state_dict(model: nn.Module, state: dict, path: Path, spec: str) -> None:
    """Name the keys and shapes that differ between the file and the model, as one error."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    resized = [
        f"{key} is {tuple(state[key].shape)} in the file but {tuple(value.shape)} in the model"
        for key, value in expected.items() if key in state and tuple(state[key].shape) != tuple(value.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_few(unexpected)}")
    problems += resized[:3]
    if problems:
        raise InputError(f"{path.name} does not fit the model of {spec}: {'; '.join(problems)}")


def _few(keys: list[str], shown: int = 5) -> str:
    listed = ", ".join(keys[:shown])
    return f"{listed} (and {len(keys) - shown} more)" if len(keys) > shown else listed
