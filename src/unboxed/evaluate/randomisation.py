"""Randomisation sanity checks (Adebayo et al. 2018; Sixt et al. 2020): does the explanation
depend on what the model learned? If a map barely changes when the weights are replaced by
random ones, the labels are permuted, or another class is explained, it shows the input, not
the model.

- `ModelParameterRandomisation` (cascading): re-initialise the parameterised layers one after
  another from the output layer down, re-explain after each step, compare with the original map.
- `IndependentLayerRandomisation`: re-initialise one layer at a time, the others left trained.
- `RandomLogit` (Sixt et al. 2020): explain a random other class instead of the target.
- `DataRandomisation`: explain a model trained on permuted labels (`random_model=...`, e.g.
  `zoo.load("digits_random_labels").model`) and compare with the real model's maps.

The user's model is NEVER changed: randomisation works on a deep copy (`copy.deepcopy`) of the
model, and the explanation method is deep-copied onto it. Each layer's parameters are re-drawn
from a generator seeded with (`seed`, layer name), with PyTorch's default scheme for linear and
convolution layers (`init="default"`, as their `reset_parameters()` but seeded and on the CPU,
so the same weights on any device), or normally around 0 with each tensor's own standard
deviation (`init="normal"`). Buffers (BatchNorm statistics) are kept.

Maps are compared as Adebayo et al. do, on |a| by default (`absolute`), summed over the channels
of images, with Spearman rank correlation, SSIM and top-k overlap (`similarity.py`); `similarity`
picks the one that gives the scores, and the only one computed unless `all_measures=True`. Lower similarity is better (the map depends on the model).
"""
from __future__ import annotations

import copy
import zlib
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError, ModelAccessError
from ..explainer import Explainer
from ..model import ModelAdapter, TorchAdapter, adapt
from ..random import torch_generator
from ..targets import Target
from ..validation import check_choice, check_positive_int
from .base import Metric, MetricResult, attribution_tensor, register_metric, resolved_indices
from .similarity import MEASURES, MapComparison
from .texts import TextInputs, output_width, per_input_values

INITS = ("default", "normal")


# --- the model copies ---------------------------------------------------------------------------
def _torch_model(model: ModelAdapter, what: str) -> TorchAdapter:
    if not isinstance(model, TorchAdapter):
        raise ModelAccessError(f"{what} re-initialises the model's layers, so it needs a torch nn.Module, "
                               f"not a black box ({model.name})")
    return model


def parameter_layers(model: Any, inputs: torch.Tensor) -> list[str]:
    """Names of the layers that hold parameters themselves, in the order a forward pass first runs
    them (one sample is run; layers it never calls are left out). The model itself, when it holds
    parameters of its own (a bare nn.Linear), is the layer named "".

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> parameter_layers(net, torch.ones(1, 3))
    ['0', '2']
    """
    adapter = _torch_model(adapt(model), "randomisation")
    owners = {module: name for name, module in adapter.module.named_modules()
              if any(p is not None for p in module._parameters.values())}
    order: list[str] = []

    def record(module, _args, _output):
        if owners[module] not in order:
            order.append(owners[module])

    handles = [module.register_forward_hook(record) for module in owners]
    try:
        with adapter.preserved(), torch.no_grad():
            adapter._call(adapter.check_inputs(inputs)[:1])
    finally:
        for handle in handles:
            handle.remove()
    if not order:
        raise InputError(f"the model ({adapter.name}) has no layer with parameters to randomise")
    return order


def layer_generator(seed: int, name: str) -> torch.Generator:
    """The generator of layer `name`'s random weights: the same layer gets the same weights in a
    cascading and in an independent run with the same seed."""
    state = np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]).generate_state(1, np.uint64)[0]
    return torch_generator(int(state >> 1))


def randomise_layer(layer: nn.Module, generator: torch.Generator, init: str = "default") -> None:
    """Re-draw the layer's own parameters IN PLACE (call it on a copy), drawn on the CPU.

    `init="default"`: PyTorch's scheme for linear/conv layers, weights (2+ dims) Kaiming-uniform
    with a=sqrt(5) and the other parameters uniform in +-1/sqrt(fan_in); `"normal"`: each tensor
    N(0, its own standard deviation^2) (1 where that is undefined or 0).

    >>> layer = nn.Linear(4, 2)
    >>> before = layer.weight.clone()
    >>> randomise_layer(layer, torch.Generator().manual_seed(0))
    >>> bool((layer.weight != before).all()), bool(layer.weight.abs().max() <= 0.5)
    (True, True)
    """
    check_choice(init, "init", INITS)
    params = [p for p in layer._parameters.values() if p is not None]
    matrix = next((p for p in params if p.ndim >= 2), None)
    fan_in = matrix[0].numel() if matrix is not None else 1
    with torch.no_grad():
        for param in params:
            fresh = torch.empty(param.shape, dtype=torch.float64)
            if init == "normal":
                spread = float(param.detach().double().std()) if param.numel() > 1 else 1.0
                nn.init.normal_(fresh, 0.0, spread if np.isfinite(spread) and spread > 0 else 1.0, generator=generator)
            elif param.ndim >= 2:
                nn.init.kaiming_uniform_(fresh, a=5**0.5, generator=generator)
            else:
                nn.init.uniform_(fresh, -(fan_in**-0.5), fan_in**-0.5, generator=generator)
            param.copy_(fresh.to(dtype=param.dtype))


def model_copy(module: nn.Module) -> nn.Module:
    """A deep copy of the user's module, to randomise without touching the original."""
    try:
        return copy.deepcopy(module)
    except Exception as error:  # e.g. non-leaf tensors stored on the module
        raise InputError(f"cannot copy the model ({type(module).__name__}) to randomise it: {error}") from None


def rebind(method: Explainer, module: nn.Module) -> Explainer:
    """A deep copy of `method` that explains `module` (same settings) instead of its own model.

    References to the old model's submodules and parameters (a CAM's layer, say) are mapped to
    the submodules of `module` with the same names, so `module` must share the architecture.
    """
    old = _torch_model(method.model, method.info.name)
    adapter = copy.copy(old)
    # same architecture, so the same activation sizes and output shape: no probe pass again
    adapter.module, adapter._probe_cache = module, dict(old._probe_cache)
    memo: dict[int, Any] = {id(old): adapter, id(old.module): module}
    new_modules, new_params = dict(module.named_modules()), dict(module.named_parameters())
    for name, sub in old.module.named_modules():
        if name in new_modules:
            memo[id(sub)] = new_modules[name]
    for name, param in old.module.named_parameters():
        if name in new_params:
            memo[id(param)] = new_params[name]
    return copy.deepcopy(method, memo)


def randomised_explanations(method: Explainer, inputs: torch.Tensor, target: Target, layers: Sequence[str],
                            cascade: bool = True, init: str = "default", seed: int = 0,
                            explain_at: Sequence[int] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(layer, attributions shaped like `inputs`) after randomising each of `layers` in turn:
    cumulatively when `cascade`, else one at a time. Each step explains all inputs in one call;
    with `explain_at` (step indices) only those steps are explained and yielded."""
    original = _torch_model(method.model, method.info.name).module
    randomised = explainer = None
    for step, name in enumerate(layers):
        if randomised is None or not cascade:  # a cascade keeps randomising the same copy
            randomised = model_copy(original)
            explainer = rebind(method, randomised)
        randomise_layer(randomised.get_submodule(name), layer_generator(seed, name), init)
        if explain_at is None or step in explain_at:
            yield name, attribution_tensor(explainer.explain(inputs, target=resolved_indices(target)), inputs)


def checkpoint_steps(n_layers: int, checkpoints: int | None) -> list[int] | None:
    """`checkpoints` evenly spaced steps of a cascade over `n_layers`, the first and the last always in.

    >>> checkpoint_steps(10, 3), checkpoint_steps(4, 8), checkpoint_steps(4, None)
    ([0, 4, 9], None, None)
    """
    if checkpoints is None or checkpoints >= n_layers:
        return None
    return sorted({int(round(i)) for i in np.linspace(0, n_layers - 1, max(int(checkpoints), 2))})


# --- the metrics --------------------------------------------------------------------------------
def as_maps(values: torch.Tensor, absolute: bool) -> torch.Tensor:
    """Attributions as the maps that are compared: |a| when `absolute`, summed over image channels.

    >>> tuple(as_maps(torch.ones(2, 3, 4, 4), True).shape)
    (2, 4, 4)
    """
    maps = values.abs() if absolute else values
    return maps.sum(1) if maps.ndim == 4 else maps


class _Randomisation(Metric):
    """Shared settings and comparison of the randomisation checks."""

    category = "randomisation"
    higher_is_better = False
    needs_method = True

    def __init__(self, similarity: str = "spearman", absolute: bool = True, k: int | float = 0.1, seed: int = 0,
                 all_measures: bool = False):
        self.similarity, self.absolute, self.k, self.seed = similarity, absolute, k, seed
        self.all_measures = all_measures

    def check_settings(self) -> None:
        check_choice(self.similarity, "similarity", MEASURES)
        for flag in ("absolute", "all_measures"):
            if not isinstance(getattr(self, flag), bool):
                raise InputError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise InputError(f"seed must be an integer, got {self.seed!r}")

    def comparison(self, original: torch.Tensor) -> MapComparison:
        """The original maps, ready to be compared with any number of re-explanations."""
        return MapComparison(as_maps(original, self.absolute), self.k)

    def compare(self, original: MapComparison, other: torch.Tensor) -> dict[str, torch.Tensor]:
        """The chosen similarity of `other` to the original maps, or all three with `all_measures`."""
        measures = MEASURES if self.all_measures else (self.similarity,)
        return original.compare(as_maps(other, self.absolute), measures)


@register_metric
class ModelParameterRandomisation(_Randomisation):
    """Cascading model-parameter randomisation (Adebayo et al. 2018): re-initialise the layers
    with parameters from the output layer down, cumulatively, re-explain after each step and
    compare with the original map. Lower is better (`higher_is_better=False`): a method that
    explains the model loses its similarity as the learned weights go.

    `layers`: names to randomise, in that order (default: every layer with parameters, the
    last-run first, see `parameter_layers`); `checkpoints`: re-explain only after this many
    evenly spaced steps (the top layer and the whole model always), which bounds the cost on deep
    models (the cascade itself still randomises every layer); `init` and `seed`: how the weights are re-drawn;
    `similarity`: "spearman" (default), "ssim" or "top_k" (overlap of the `k` largest) gives the
    scores; `absolute`: compare |a| (as the paper). The result's `curves` (n, layers) hold the
    chosen similarity after every step, `scores` their mean over the steps, and `details` the
    layer names and the chosen similarity's values (all three with `all_measures=True`; each costs
    about a fifth of a small model's re-explanation). The user's model is never changed: a deep copy is.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> result = ModelParameterRandomisation().evaluate(net, torch.rand(3, 4), target=0, method="saliency")
    >>> result.curves.shape, result.details["layers"]
    ((3, 2), ['2', '0'])
    """

    name = "model_parameter_randomisation"
    cascade = True

    def __init__(self, layers: Sequence[str] | None = None, init: str = "default", similarity: str = "spearman",
                 absolute: bool = True, k: int | float = 0.1, seed: int = 0, checkpoints: int | None = None,
                 all_measures: bool = False):
        super().__init__(similarity, absolute, k, seed, all_measures)
        self.layers, self.init = layers, init
        self.checkpoints = None if checkpoints is None else check_positive_int(checkpoints, "checkpoints")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "layers": None if self.layers is None else list(self.layers), "cascade": self.cascade}

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        self.check_settings()
        check_choice(self.init, "init", INITS)
        layers = self.layer_order(method.model, inputs)
        explain_at = checkpoint_steps(len(layers), self.checkpoints) if self.cascade else None
        steps: dict[str, list[torch.Tensor]] = {}
        explained, original = [], self.comparison(attributions)
        for name, values in randomised_explanations(method, inputs, target, layers, self.cascade, self.init, self.seed,
                                                    explain_at):
            explained.append(name)
            for measure, similarity in self.compare(original, values).items():
                steps.setdefault(measure, []).append(similarity)
        curves = {measure: torch.stack(values, dim=1) for measure, values in steps.items()}  # (n, steps explained)
        chosen = curves[self.similarity]
        details = {"layers": explained, "similarity": self.similarity, "cascade": self.cascade,
                   **{measure: values.tolist() for measure, values in curves.items()}}
        return chosen.mean(1), {"curves": chosen.numpy(), "details": details}

    def layer_order(self, model: ModelAdapter, inputs: torch.Tensor) -> list[str]:
        """The given layers (checked), or all parameterised layers from the output down."""
        adapter = _torch_model(model, self.name)
        if self.layers is None:
            return parameter_layers(adapter, inputs)[::-1]
        if isinstance(self.layers, str) or not all(isinstance(name, str) for name in self.layers) or not len(self.layers):
            raise InputError(f"layers must be a non-empty list of layer names, got {self.layers!r}")
        for name in self.layers:
            if not any(p is not None for p in adapter.layer(name)._parameters.values()):
                raise InputError(f"layer {name!r} holds no parameters of its own to randomise; "
                                 f"layers with parameters: {', '.join(parameter_layers(adapter, inputs))}")
        return list(self.layers)


@register_metric
class IndependentLayerRandomisation(ModelParameterRandomisation):
    """Independent layer randomisation (Adebayo et al. 2018): re-initialise ONE layer at a time
    (the others keep their trained weights), re-explain, compare with the original map. Settings
    and result as `ModelParameterRandomisation`; lower is better.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> IndependentLayerRandomisation(layers=["0"]).evaluate(net, torch.rand(3, 4), target=0, method="saliency").curves.shape
    (3, 1)
    """

    name = "independent_layer_randomisation"
    cascade = False


@register_metric
class RandomLogit(TextInputs, _Randomisation):
    """Random-logit test (Sixt et al. 2020): explain a random other class (uniform over the classes
    other than the target, drawn with `seed`) and compare with the target's map. A method whose
    maps do not depend on the class scores high; lower is better. Targets must be class indices.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> result = RandomLogit().evaluate(net, torch.rand(2, 4), target=0, method="saliency")
    >>> [c != 0 for c in result.details["random_class"]]
    [True, True]
    """

    name = "random_logit"

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        self.check_settings()
        if target.index is None:
            raise InputError("random_logit needs class indices as targets, not a callable")
        n_classes = output_width(model, inputs)
        if n_classes < 2:
            raise InputError("random_logit needs a model with at least 2 classes")
        shift = torch.randint(1, n_classes, (len(inputs),), generator=torch_generator(self.seed))
        others = (target.index + shift) % n_classes
        values = per_input_values(method.explain(inputs, target=others), inputs)
        similarities = self.compare(self.comparison(attributions), values)
        details = {"random_class": others.tolist(), **{measure: v.tolist() for measure, v in similarities.items()}}
        return similarities[self.similarity], {"details": details}


@register_metric
class DataRandomisation(_Randomisation):
    """Data randomisation (Adebayo et al. 2018): compare the maps of the model with those of the
    same architecture trained on permuted labels, given as `random_model=` to `evaluate` (e.g.
    `zoo.load("digits_random_labels").model`). The method is copied onto that model with the
    same settings. Lower is better. (`seed` is unused: nothing is drawn here.)

    >>> from torch import nn
    >>> net, other = nn.Linear(4, 2), nn.Linear(4, 2)
    >>> result = DataRandomisation().evaluate(net, torch.rand(2, 4), target=0, method="saliency", random_model=other)
    >>> result.scores.shape
    (2,)
    """

    name = "data_randomisation"

    def score(self, model: ModelAdapter, inputs: torch.Tensor, target: Target, attributions: torch.Tensor,
              method: Explainer | None, random_model: Any = None, **context) -> tuple[torch.Tensor, dict[str, Any]]:
        self.check_settings()
        if not isinstance(random_model, nn.Module):
            raise InputError("data_randomisation needs random_model=<the same architecture trained on permuted labels> "
                             f"(a torch nn.Module); got {type(random_model).__name__}")
        explainer = rebind(method, random_model)
        values = attribution_tensor(explainer.explain(inputs, target=resolved_indices(target)), inputs)
        similarities = self.compare(self.comparison(attributions), values)
        return similarities[self.similarity], {"details": {measure: v.tolist() for measure, v in similarities.items()}}


# --- pictures -----------------------------------------------------------------------------------
def plot_randomisation(results: Mapping[str, MetricResult], measure: str | None = None, ax=None):
    """Similarity to the original map against the randomised layers, one line per method (the
    mean over examples, with a band from the 25th to the 75th percentile). `results` maps method
    names to results of `ModelParameterRandomisation` / `IndependentLayerRandomisation`.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> metric = ModelParameterRandomisation()
    >>> runs = {m: metric.evaluate(net, torch.rand(3, 4), target=0, method=m) for m in ("saliency", "input_x_gradient")}
    >>> plot_randomisation(runs).get_legend_handles_labels()[1]
    ['saliency', 'input_x_gradient']
    """
    from matplotlib.figure import Figure

    if not results:
        raise InputError("plot_randomisation needs at least one result")
    if ax is None:  # a bare Figure, not pyplot: no global figure is left open
        ax = Figure(figsize=(6, 3.5), layout="constrained").subplots()
    for label, result in results.items():
        if not result.details or "layers" not in result.details:
            raise InputError(f"the result for {label!r} is not from a layer randomisation metric")
        chosen = measure or result.details["similarity"]
        if chosen not in result.details:
            raise InputError(f"the result for {label!r} holds no {chosen!r} similarities: evaluate with "
                             f"similarity={chosen!r}, or all_measures=True for all three")
        curves = np.asarray(result.details[chosen], dtype=float)
        steps = np.arange(curves.shape[1] + 1)
        full = np.concatenate([np.ones((len(curves), 1)), curves], axis=1)  # the original map is identical to itself
        ax.plot(steps, full.mean(0), marker="o", label=label)
        ax.fill_between(steps, *np.percentile(full, [25, 75], axis=0), alpha=0.2)
    first = next(iter(results.values()))
    ax.set_xticks(np.arange(len(first.details["layers"]) + 1), ["original", *first.details["layers"]], rotation=30)
    ax.set_ylabel(f"{measure or first.details['similarity']} similarity to the original")
    ax.set_xlabel("cascading randomisation" if first.details.get("cascade", True) else "layer randomised alone")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=8)
    return ax


def plot_randomisation_maps(model: Any, inputs: Any, methods: Mapping[str, Any], target: Any = None,
                            cascade: bool = True, absolute: bool = True, seed: int = 0):
    """The maps of one input (the first of `inputs`) for each method (rows) on the original model
    and after each randomisation step (columns). `methods` maps labels to method names, (name,
    settings) pairs or Explainers. Returns the figure.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2))
    >>> len(plot_randomisation_maps(net, torch.rand(1, 1, 4, 4), {"saliency": "saliency"}).axes)
    3
    """
    from matplotlib.figure import Figure

    from .base import as_explainer

    adapter = adapt(model)
    image = adapter.check_inputs(inputs)[:1]
    resolved = adapter.resolve_target(image, target)
    layers = parameter_layers(adapter, image)[::-1]
    fig = Figure(figsize=(1.6 * (len(layers) + 1), 1.7 * len(methods)))
    axes = fig.subplots(len(methods), len(layers) + 1, squeeze=False)
    for row, (label, method) in enumerate(methods.items()):
        explainer = as_explainer(method, adapter)
        original = attribution_tensor(explainer.explain(image, target=resolved_indices(resolved)), image)
        steps = [("original", original), *randomised_explanations(explainer, image, resolved, layers, cascade, seed=seed)]
        for column, (name, values) in enumerate(steps):
            picture = as_maps(values, absolute)[0].detach().cpu().numpy()
            ax = axes[row, column]
            picture = picture if picture.ndim == 2 else picture[None]
            limit = max(float(np.abs(picture).max()), 1e-12)
            ax.imshow(picture, cmap="magma" if absolute else "bwr", vmin=0 if absolute else -limit, vmax=limit)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=8)
            if column == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig
