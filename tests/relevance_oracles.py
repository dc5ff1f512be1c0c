"""Reference attributions from zennit 0.5.1 and Captum 0.9.0 for the relevance tests; a helper, not a test file.

Every function takes (model, inputs, target) and returns a tensor shaped like `inputs`, detached.
`target` is a class index or one index per row. Conventions, each measured in
tests/test_relevance_oracles.py:

- zennit (`zennit_rule`, `zennit_epsilon_plus_flat`, `zennit_epsilon_gamma_box`): the relevance at the
  output is the one-hot of `target` times the target logit (`output_relevance="logit"`, default),
  or the plain one-hot (`"one"`), so the maps differ by the factor f_t(x) only. zennit passes
  relevance itself through the autograd graph, so an op without a hook scales it by its derivative:
  a model's own input centring (x - m) / s multiplies the input map by 1/s, and a bare `a + b`
  copies relevance to both terms (hence `residual_canonizers` for the digits ResNet). BatchNorm gets
  the Pass rule: merge it into its conv (`canonizers.SequentialMergeBatchNorm()`), else the map is
  wrong. ReLUs pass relevance, as modules, functional or shared alike. Bias-free, every rule but
  Epsilon conserves: the map sums to the output relevance (up to the stabilisers, default 1e-6).
- Captum's LRP (`captum_lrp`): a modified gradient scaled by the target logit, so the relevance at
  the output is f_t(x); every leaf module gets epsilon = 1e-9 (Conv2d, Linear, MaxPool, AvgPool,
  AdaptiveAvgPool2d, BatchNorm2d as a layer of its own), ReLU/Dropout/Tanh modules pass relevance
  (functional and shared ReLUs give the same map), any other leaf (nn.Identity, nn.Flatten) raises
  TypeError, and a bare `a + b` copies relevance (Captum wants its Addition_Module). A model that is
  itself a leaf gets no rule at all (gradient x output): it is wrapped here.
- Captum's DeepLift (`captum_deeplift`, rescale): (x - x') * multipliers; the map sums to
  f_t(x) - f_t(x') (x' = zeros by default). Right only when every nonlinearity is its own
  `nn.ReLU`-style module used once (F.relu: silently the gradient; a shared module: RuntimeError)
  and no ReLU feeds a max-pool directly (captum#1104): give it `relevance_models.twin_for_captum(model)`.
  Max-pools get Captum's cross-maximum rule, which conserves, not the gradient.
- `captum_deeplift_shap`: the mean over `baselines` rows of DeepLift against each row; it sums to
  f_t(x) - mean_b f_t(b).
"""
from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn


from zennit_without_torchvision import stub_zennit_torchvision  # noqa: E402

stub_zennit_torchvision()
try:  # pytest imports every file under tests/ for doctests: a missing oracle must not break collection
    from zennit import canonizers, composites, rules
    from zennit import types as ztypes
    from zennit.attribution import Gradient
    from zennit.layer import Sum
except ImportError:
    canonizers = composites = rules = ztypes = Gradient = Sum = None

from unboxed.zoo.digits_resnet import ResidualBlock  # noqa: E402

needs_zennit = pytest.mark.skipif(
    rules is None, reason="zennit (a test-only oracle) is missing: pip install --no-deps zennit==0.5.1",
)

# Plain rules by name; ZBox takes the input bounds (low, high) and belongs on the first layer only.
ZENNIT_RULES = {
    "zero": lambda: rules.Epsilon(epsilon=1e-12),  # LRP-0 (a stabiliser only against 0/0)
    "epsilon": lambda epsilon=0.25: rules.Epsilon(epsilon=epsilon),
    "zplus": lambda: rules.ZPlus(),
    "alpha1beta0": lambda: rules.AlphaBeta(alpha=1, beta=0),
    "alpha2beta1": lambda: rules.AlphaBeta(alpha=2, beta=1),
    "gamma": lambda gamma=0.25: rules.Gamma(gamma=gamma),
    "wsquare": lambda: rules.WSquare(),
    "flat": lambda: rules.Flat(),
    "zbox": lambda low=0.0, high=1.0: rules.ZBox(low=low, high=high),
}


def _one_hot(target, output: torch.Tensor) -> torch.Tensor:
    rows = torch.as_tensor(target, device=output.device).expand(output.shape[0])
    return F.one_hot(rows, output.shape[1]).to(output.dtype)


def zennit_attribution(model: nn.Module, inputs: torch.Tensor, target, composite,
                       output_relevance: str = "logit") -> torch.Tensor:
    """zennit's modified gradient under `composite`; the output relevance is one-hot(target) x the target logit
    ("logit") or the one-hot itself ("one")."""
    if output_relevance not in ("logit", "one"):
        raise ValueError(f"output_relevance must be 'logit' or 'one', not {output_relevance!r}")

    def start(output):
        one_hot = _one_hot(target, output)
        return one_hot * output.detach() if output_relevance == "logit" else one_hot

    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(inputs.detach().clone(), start)
    return relevance.detach()


def _base_map(stabilizer: float = 1e-6) -> list:
    """zennit's own base mapping: activations and BatchNorm pass relevance, sums and average pools normalise."""
    return composites.layer_map_base(stabilizer)


def zennit_rule(model: nn.Module, inputs: torch.Tensor, target, rule: str, first: str | None = None,
                canonizer_list: list | None = None, output_relevance: str = "logit", stabilizer: float = 1e-6,
                **settings) -> torch.Tensor:
    """One plain rule (a key of `ZENNIT_RULES`, with `settings`) on every Linear/Conv layer; `first` names another
    rule for the first Linear/Conv layer (e.g. "zbox", "flat"), taking its default settings. `stabilizer` is
    the one of the Norm rule on sums and average pools (zennit's default 1e-6 loses ~1e-5 of the relevance)."""
    layer_map = _base_map(stabilizer) + [(ztypes.Linear, ZENNIT_RULES[rule](**settings))]
    if first is None:
        composite = composites.LayerMapComposite(layer_map=layer_map, canonizers=canonizer_list)
    else:
        first_map = [(ztypes.Linear, ZENNIT_RULES[first]())]
        composite = composites.SpecialFirstLayerMapComposite(layer_map, first_map, canonizers=canonizer_list)
    return zennit_attribution(model, inputs, target, composite, output_relevance)


def zennit_epsilon_plus_flat(model: nn.Module, inputs: torch.Tensor, target, canonizer_list: list | None = None,
                             output_relevance: str = "logit", epsilon: float = 1e-6,
                             stabilizer: float = 1e-6) -> torch.Tensor:
    """EpsilonPlusFlat: Flat on the first Linear/Conv, ZPlus on the other convs, Epsilon on nn.Linear
    (`stabilizer`: the denominators' of every rule but Epsilon)."""
    composite = composites.EpsilonPlusFlat(epsilon=epsilon, stabilizer=stabilizer, canonizers=canonizer_list)
    return zennit_attribution(model, inputs, target, composite, output_relevance)


def zennit_epsilon_gamma_box(model: nn.Module, inputs: torch.Tensor, target, low=0.0, high=1.0,
                             canonizer_list: list | None = None, output_relevance: str = "logit",
                             epsilon: float = 1e-6, gamma: float = 0.25, stabilizer: float = 1e-6) -> torch.Tensor:
    """EpsilonGammaBox: ZBox(low, high) on the first conv, Gamma on the other convs, Epsilon on nn.Linear.

    zennit's `low`/`high` are tensors broadcast against the first conv's input; floats are made tensors here.
    """
    low, high = (torch.as_tensor(v, dtype=inputs.dtype) for v in (low, high))
    composite = composites.EpsilonGammaBox(
        low=low, high=high, epsilon=epsilon, gamma=gamma, stabilizer=stabilizer, canonizers=canonizer_list,
    )
    return zennit_attribution(model, inputs, target, composite, output_relevance)


# --- the digits ResNet under zennit ------------------------------------------------------------------------
def _block_forward_with_sum(self, x):
    """ResidualBlock.forward with the addition done by a zennit `Sum` module, which composites give a rule."""
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return F.relu(self.canonizer_sum(torch.stack([self.shortcut(x), out], dim=-1)))


def _residual_attributes(name, module):
    if isinstance(module, ResidualBlock):
        return {"forward": _block_forward_with_sum.__get__(module), "canonizer_sum": Sum()}
    return None


def residual_canonizers() -> list:
    """zennit canonizers for `DigitsResNet` (what zennit's torchvision ResNetCanonizer does for torchvision's
    BasicBlock): BatchNorm merged into the conv before it, and each skip addition made a `Sum` module.

    The merge leaves each BatchNorm computing x / sqrt(1 + eps), not x: give zennit a `zennit_ready` copy,
    whose BatchNorms have eps 0.
    """
    return [canonizers.SequentialMergeBatchNorm(), canonizers.AttributeCanonizer(_residual_attributes)]


# --- Captum -----------------------------------------------------------------------------------------------
def captum_lrp(model: nn.Module, inputs: torch.Tensor, target) -> torch.Tensor:
    """Captum's LRP with its default rules (epsilon 1e-9 everywhere); sums to about the target logit."""
    from captum.attr import LRP

    if not list(model.children()):  # Captum looks for leaves among the children: a leaf model would get no rule
        model = nn.Sequential(model)
    return LRP(model).attribute(inputs.detach().clone(), target=target).detach()


def captum_deeplift(model: nn.Module, inputs: torch.Tensor, target, baselines=None) -> torch.Tensor:
    """Captum's DeepLift (rescale rule, multiplied by inputs); sums to f_t(x) - f_t(baseline), zeros by default."""
    from captum.attr import DeepLift

    inputs = inputs.detach().clone()
    baselines = torch.zeros_like(inputs) if baselines is None else baselines
    return DeepLift(model).attribute(inputs, baselines=baselines, target=target).detach()


def captum_deeplift_shap(model: nn.Module, inputs: torch.Tensor, target, baselines: torch.Tensor) -> torch.Tensor:
    """Captum's DeepLiftShap: DeepLift averaged over the rows of `baselines`; sums to f_t(x) - mean f_t(baselines)."""
    from captum.attr import DeepLiftShap

    return DeepLiftShap(model).attribute(inputs.detach().clone(), baselines=baselines, target=target).detach()


def zennit_ready(model: nn.Module) -> nn.Module:
    """A copy that computes the same function in the form zennit 0.5.1 canonizes exactly: every conv
    without a bias gets a zero one (its MergeBatchNorm fails on a conv without bias), and each
    BatchNorm's eps moves into its running variance (var + eps, eps 0). The merge leaves a BatchNorm
    computing x / sqrt(1 + eps), not x; near-zero denominators of the stabilised rules then
    magnify that ~5e-6 change of the logits to ~2e-4 of the map on some trained models."""
    import copy

    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, nn.Conv2d) and module.bias is None:
            module.bias = nn.Parameter(torch.zeros(module.out_channels))
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_var is not None:
            module.running_var += module.eps
            module.eps = 0.0
    return twin
