"""Where zoo models are trained once and kept: safetensors weights + JSON facts, keyed by recipe."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import torch
from platformdirs import user_cache_dir
from safetensors.torch import load_file, save_file


def cache_dir() -> Path:
    """The zoo's cache folder: $UNBOXED_CACHE, else the user cache dir."""
    return Path(os.environ.get("UNBOXED_CACHE") or user_cache_dir("unboxed")) / "zoo"


def recipe_key(**recipe) -> str:
    """A short hash of everything that determines a trained model (data, settings, seed, code version)."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_weights(name: str, recipe: dict, model: torch.nn.Module, train: Callable[[torch.nn.Module], dict]) -> dict:
    """Load `model`'s weights for `recipe` from the cache, or train it with `train` and cache them.

    Returns the facts `train` reported (accuracy and the like). The file holds tensors only.
    """
    folder = cache_dir() / f"{name}-{recipe_key(**recipe)}"
    weights, facts_file = folder / "weights.safetensors", folder / "facts.json"
    if weights.exists() and facts_file.exists():
        model.load_state_dict(load_file(weights, device="cpu"))
        return json.loads(facts_file.read_text())
    facts = train(model)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(weights)
    facts_file.write_text(json.dumps({**facts, "recipe": recipe}, indent=1))
    return facts
