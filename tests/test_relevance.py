"""LRP and DeepLIFT: conservation, agreement with zennit and Captum, the same answer however a network
is written, exact values on linear models, the model left as it was, and clear errors."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

import relevance_models as models
import relevance_oracles as oracles
from conftest import assert_close_relative
from unboxed import zoo
from unboxed.attribution import (LRP, AlphaBeta, Composite, DeepLift, DeepLiftShap, Epsilon, Flat, Gamma, WSquare, ZBox,
                                 ZPlus)
from unboxed.attribution.relevance_rules import LinearOp
from unboxed.errors import InputError

CONSERVING = {  # z+ and alpha1-beta0 share residual sums by positive parts, so relevance stays positive
    "zplus": Composite(conv=ZPlus(eps=1e-12, bias=False), linear=ZPlus(eps=1e-12, bias=False), sums="positive"),
    "alpha1_beta0": Composite(conv=AlphaBeta(1.0, 0.0, eps=1e-12, bias=False), linear=AlphaBeta(1.0, 0.0, eps=1e-12, bias=False),
                              sums="positive"),
    "lrp0": Composite(conv=Epsilon(1e-12, bias=False), linear=Epsilon(1e-12, bias=False)),
}


def bias_free(model: nn.Module) -> nn.Module:
    """A float64 copy with every bias and BatchNorm shift zeroed: a bias-free network (float64: a denominator
    that is 0 in exact arithmetic comes out as rounding noise in float32, and eps=1e-12 would amplify it)."""
    twin = copy.deepcopy(model).eval().double()
    with torch.no_grad():
        for module in twin.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.zero_()
    return twin


@pytest.fixture(scope="module")
def test_models():
    effnet = zoo.load("efficientnet_lite0", photos=("coffee", "chelsea"))
    return {
        "digits_cnn": (zoo.load("digits_cnn").model, zoo.load("digits_cnn").inputs[:4]),
        "breast_cancer_mlp": (zoo.load("breast_cancer_mlp").model, zoo.load("breast_cancer_mlp").inputs[:4]),
        "digits_resnet": (zoo.load("digits_resnet").model, zoo.load("digits_resnet").inputs[:4]),
        "efficientnet_lite0": (effnet.model, effnet.inputs),
    }


@pytest.mark.parametrize("name, rules", [
    (name, rules) for name in ("digits_cnn", "breast_cancer_mlp", "digits_resnet") for rules in CONSERVING
] + [("efficientnet_lite0", "lrp0")])
def test_conserving_rules_conserve_on_bias_free_networks(test_models, name, rules):
    """Every conserving rule on the ReLU networks, the residual one included (z+ there with residual sums
    shared among the summands of the output's sign: in proportion to signed summands, a branch with a
    negative output would get negative relevance, which z+ has no positive term to carry).

    EfficientNet-Lite0 conserves exactly under LRP-0; under z+ it keeps 99.5%: its linear bottlenecks
    (a 1x1 conv with no activation after it) have negative outputs that the next layer's z+ gives
    relevance (x- times w-), and where all of such an output's contributions are negative z+ has
    nothing to pass it to (test_zplus_loses_only_at_linear_bottlenecks)."""
    model, inputs = test_models[name]
    result = LRP(bias_free(model), composite=CONSERVING[rules], stabiliser=1e-12).explain(inputs.double())
    total = result.values.reshape(len(inputs), -1).sum(1)
    np.testing.assert_allclose(total, result.scores, rtol=1e-5, atol=1e-6 * np.abs(result.scores).max())


def test_zplus_loses_only_at_linear_bottlenecks(test_models):
    model, inputs = test_models["efficientnet_lite0"]
    result = LRP(bias_free(model), composite=CONSERVING["zplus"], stabiliser=1e-12).explain(inputs.double())
    kept = result.values.reshape(len(inputs), -1).sum(1) / result.scores
    assert np.all((kept > 0.99) & (kept <= 1.0 + 1e-9)), kept


@pytest.mark.parametrize("name", ["digits_cnn", "breast_cancer_mlp", "digits_resnet", "efficientnet_lite0"])
def test_deeplift_adds_up_to_the_difference_from_the_baseline(test_models, name):
    model, inputs = test_models[name]
    result = DeepLift(model).explain(inputs)
    gap = np.abs(result.values.reshape(len(inputs), -1).sum(1) - (result.scores - result.base))
    assert gap.max() <= 1e-5 * np.abs(result.scores - result.base).max()
    np.testing.assert_allclose(result.values, (result.inputs - result.baselines) * result.multipliers, rtol=1e-6)
    background = inputs[:2] * 0.5
    shap = DeepLiftShap(model, background=background).explain(inputs)
    assert np.abs(shap.delta).max() <= 1e-5 * np.abs(shap.scores - shap.base).max()


def test_one_linear_layer_lrp0_and_deeplift_are_gradient_times_input():
    model, inputs = models.one_layer_linear(0)
    expected = (inputs * model.weight[0]).detach().numpy()
    lrp = LRP(model, composite="lrp0").explain(inputs, target=0)
    deeplift = DeepLift(model).explain(inputs, target=0)
    np.testing.assert_allclose(lrp.values, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(deeplift.values, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["lrp", "rescale", "reveal_cancel"])
def test_the_same_network_written_three_ways_gives_the_same_answer(method):
    modules_relu, functional, shared, inputs = models.three_ways(0)
    explain = (lambda m: LRP(m, composite="epsilon_gamma_box").explain(inputs, target=1).values) if method == "lrp" \
        else (lambda m: DeepLift(m, rule=method).explain(inputs, target=1).values)
    reference = explain(modules_relu)
    np.testing.assert_allclose(explain(functional), reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(explain(shared), reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule, ours", [
    ("epsilon", Epsilon(0.25)), ("zplus", ZPlus()), ("alpha2beta1", AlphaBeta(2.0, 1.0)), ("alpha1beta0", AlphaBeta(1.0, 0.0)),
    ("gamma", Gamma(0.25)), ("wsquare", WSquare()), ("flat", Flat()), ("zbox", ZBox(0.0, 1.0)),
])
def test_each_rule_agrees_with_zennit(rule, ours):
    model, inputs = models.three_ways(1)[0], models.three_ways(1)[3]
    theirs = oracles.zennit_rule(model, inputs, 0, rule)
    values = LRP(model, composite=Composite(conv=ours, linear=ours)).explain(inputs, target=0).values
    assert_close_relative(values, theirs, rtol=1e-4)


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_zplus_on_inputs_of_both_signs_with_a_bias_is_the_explicit_rule(kind):
    """z+ where the input has both signs (after a residual sum) takes one convolution with |x| |W| and the
    layer's own output; it equals x+ W+ + x- W- (+ b+ in the denominator) term by term. (Where a unit has
    no positive part at all, the shortcut's rounding, divided by eps, is what reaches the inputs: ~1e-8
    of the relevance in float64 here; on EfficientNet in float32 the map stays within 3e-6 of float64's.)"""
    generator = torch.Generator().manual_seed(3)
    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)
    weight = draw(4, 8) if kind == "linear" else draw(4, 3, 3, 3)
    bias = torch.tensor([0.5, -0.7, 0.3, -0.2], dtype=torch.float64)
    options = {} if kind == "linear" else {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}
    op = LinearOp(kind, weight, bias, options)
    x = draw(2, 8) if kind == "linear" else draw(2, 3, 5, 5)
    relevance = draw(*op.forward(x, weight, bias).shape)
    ours = ZPlus(eps=1e-9).relevance(op, x, op.forward(x, weight, bias), relevance)
    wp, wn, xp, xn = weight.clamp(min=0), weight.clamp(max=0), x.clamp(min=0), x.clamp(max=0)
    positive = op.forward(xp, wp, bias.clamp(min=0)) + op.forward(xn, wn, None)
    assert positive.min() > 1e-3  # every unit has a positive part
    share = relevance / (positive + 1e-9)
    theirs = op.term(xp, wp, share.clone()) + op.term(xn, wn, share.clone())
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


class _ShiftedAfterReLU(nn.Module):
    """conv -> ReLU -> minus 1 -> conv: the second conv's input has both signs; `in_place` subtracts in place."""

    def __init__(self, in_place: bool):
        super().__init__()
        self.in_place, self.conv1, self.conv2 = in_place, nn.Conv2d(1, 3, 3), nn.Conv2d(3, 2, 3)

    def forward(self, x):
        hidden = torch.relu(self.conv1(x))
        hidden = hidden.sub_(1.0) if self.in_place else hidden - 1.0
        return self.conv2(hidden).flatten(1)


def test_a_relu_output_changed_in_place_is_not_taken_as_nonnegative():
    """z+ skips the sign check for inputs that come straight from a ReLU; one changed in place since
    (here made signed) is checked again, so both ways of writing the model give the same map."""
    torch.manual_seed(0)
    twins = [_ShiftedAfterReLU(in_place).double().eval() for in_place in (False, True)]
    twins[1].load_state_dict(twins[0].state_dict())
    inputs = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    maps = [LRP(m, composite=Composite(conv=ZPlus(), first=ZPlus())).explain(inputs, target=1).values for m in twins]
    np.testing.assert_allclose(maps[1], maps[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_resnet"])
@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box"])
def test_composites_agree_with_zennit(test_models, name, composite):
    """zennit passes relevance through the model's own input centring (x - 0.3) / 0.4 as a gradient, so
    its pixel map is 2.5x the relevance at the first conv's input; ours passes it unchanged (and conserves)."""
    from zennit import canonizers

    model, inputs = test_models[name]
    zennit_model = oracles.zennit_ready(model)
    canonizer_list = [canonizers.SequentialMergeBatchNorm()] + (oracles.residual_canonizers() if name == "digits_resnet" else [])
    low, high = (0.0 - 0.3) / 0.4, (1.0 - 0.3) / 0.4  # the box in the first conv's (centred) units
    if composite == "epsilon_plus_flat":
        theirs = oracles.zennit_epsilon_plus_flat(zennit_model, inputs, 3, canonizer_list=canonizer_list)
        ours = LRP(model, composite=composite).explain(inputs, target=3).values
    else:
        theirs = oracles.zennit_epsilon_gamma_box(zennit_model, inputs, 3, low=low, high=high, canonizer_list=canonizer_list)
        ours = LRP(model, composite=composite, low=low, high=high).explain(inputs, target=3).values
    assert_close_relative(ours * 2.5, theirs, rtol=1e-4)


def test_lrp_agrees_with_captum_on_the_digits_cnn(test_models):
    model, inputs = test_models["digits_cnn"]
    theirs = oracles.captum_lrp(model, inputs, 2)
    ours = LRP(model, composite=Composite(conv=Epsilon(1e-9), linear=Epsilon(1e-9))).explain(inputs, target=2).values
    assert_close_relative(ours * 2.5, theirs, rtol=1e-4)


def test_deeplift_agrees_with_captum_on_the_twin_and_is_right_on_the_original(test_models):
    """Captum 0.9.0's DeepLift is wrong where a ReLU feeds a max-pool (#1104), as in the digits CNN: compared on a
    twin with a no-op in between, and on the original by completeness (Captum's misses by whole units)."""
    model, inputs = test_models["digits_cnn"]
    ours = DeepLift(model).explain(inputs, target=4)
    theirs_twin = oracles.captum_deeplift(models.twin_for_captum(model), inputs, 4)
    assert_close_relative(ours.values, theirs_twin, rtol=1e-4)
    theirs_original = oracles.captum_deeplift(model, inputs, 4)
    difference = ours.scores - ours.base
    assert np.abs(ours.values.reshape(4, -1).sum(1) - difference).max() < 1e-4
    assert np.abs(theirs_original.reshape(4, -1).sum(1).numpy() - difference).max() > 1e-2


@pytest.mark.parametrize("activation", [nn.ReLU(), nn.ReLU6(), nn.Hardtanh(-0.2, 2.0)])
def test_deeplift_takes_the_gradient_where_a_unit_equals_its_reference_as_captum(activation):
    """x1 - x2 + 0.5 is 0.5 both at x = (1, 1) and at the zero baseline: the unit's quotient is 0/0 and the
    multiplier is the gradient by convention, 1 here, so x1 and x2 get +2 and -2 (their sum is
    f(x) - f(x') = 0, which the convention does not change; completeness alone cannot see it)."""
    model = nn.Sequential(nn.Linear(2, 1), activation, nn.Linear(1, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0]])), model[0].bias.fill_(0.5)
        model[2].weight.fill_(2.0), model[2].bias.zero_()
    inputs = torch.tensor([[1.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    ours = DeepLift(model).explain(inputs, target=0).values
    np.testing.assert_allclose(ours[0], [2.0, -2.0])
    if not isinstance(activation, nn.Hardtanh) or isinstance(activation, nn.ReLU6):  # Captum treats Hardtanh as linear
        assert_close_relative(ours, oracles.captum_deeplift(model, inputs, 0), rtol=1e-12)


class _UnitIntoPool(nn.Module):
    """conv -> unit -> max-pool -> conv -> linear; with `branch`, the unit's output is also read by a
    second path (its mean, added to the logits), so the unit is passed back through on its own too."""

    def __init__(self, unit: nn.Module, pool: nn.Module, branch: bool):
        super().__init__()
        self.conv1, self.unit, self.pool, self.branch = nn.Conv2d(1, 4, 3, padding=1), unit, pool, branch
        self.conv2 = nn.Conv2d(4, 3, 3, padding=1)
        self.fc = nn.LazyLinear(2)

    def forward(self, x):
        hidden = self.unit(self.conv1(x))
        logits = self.fc(self.conv2(self.pool(hidden)).flatten(1))
        return logits + hidden.mean((1, 2, 3)).unsqueeze(1) if self.branch else logits


@pytest.mark.parametrize("unit, pool, branch", [
    (nn.ReLU(), nn.MaxPool2d(2), False),
    (nn.ReLU(inplace=True), nn.MaxPool2d(2), False),
    (nn.ReLU6(), nn.MaxPool2d(3, stride=2, padding=1), False),  # overlapping windows: one input wins twice
    (nn.ReLU(), nn.MaxPool2d(2), True),
])
def test_deeplift_through_a_unit_and_its_max_pool_at_once_equals_one_after_the_other(unit, pool, branch):
    """A ReLU-family unit read only by a max pool is passed back through together with it (its
    multiplier computed only where the pool routes); a twin that clones between the two takes them one
    after the other. Blank image areas make units equal to their reference (the gradient convention)."""
    generator = torch.Generator().manual_seed(0)
    model = _UnitIntoPool(unit, pool, branch)
    model(torch.zeros(1, 1, 8, 8))
    model = model.double().eval()
    for parameter in model.parameters():
        parameter.data = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
    inputs = torch.zeros(3, 1, 8, 8, dtype=torch.float64)
    inputs[:, :, 2:6, 1:5] = torch.rand(3, 1, 4, 4, generator=generator, dtype=torch.float64) * 4 - 1
    together = DeepLift(model).explain(inputs, target=1)
    one_after_the_other = DeepLift(models.twin_for_captum(model)).explain(inputs, target=1)
    np.testing.assert_allclose(together.values, one_after_the_other.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(together.values.sum((1, 2, 3)), together.scores - together.base, rtol=1e-10, atol=1e-12)


def test_deeplift_through_smooth_activations_agrees_with_captum_and_adds_up():
    """Tanh, sigmoid and ELU take the rescale multiplier (f(x) - f(x')) / (x - x'), and the gradient
    where a unit equals its reference (here: x1 = x2 against the zero baseline)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 3), nn.ELU(),
                          nn.Linear(3, 2)).double()
    with torch.no_grad():
        model[0].weight[0] = torch.tensor([1.0, -1.0, 0.0])  # unit 0 sees x1 - x2: at its reference when x1 = x2
    inputs = torch.tensor([[1.0, 1.0, 0.5], [0.3, -2.0, 1.5]], dtype=torch.float64)
    ours = DeepLift(model).explain(inputs, target=1)
    assert_close_relative(ours.values, oracles.captum_deeplift(model, inputs, 1), rtol=1e-9)
    np.testing.assert_allclose(ours.values.sum(1), ours.scores - ours.base, rtol=1e-10)


@pytest.mark.parametrize("kind, weight, options", [
    ("conv", (8, 3, 3, 3), {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}),
    ("conv", (8, 3, 3, 3), {"stride": [1, 1], "padding": [0, 2], "dilation": [2, 1], "groups": 1}),
    ("conv", (8, 3, 3, 3), {"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1], "groups": 1}),
    ("conv", (6, 1, 3, 3), {"stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 3}),
    ("conv", (4, 2, 3, 1, 3), {"stride": [1, 1, 1], "padding": [1, 0, 1], "dilation": [1, 1, 1], "groups": 1}),
    ("linear", (5, 7), {}),
])
def test_flat_rule_sends_relevance_back_as_the_all_ones_transpose(kind, weight, options):
    """The flat rule's shortcut (channels summed, one channel's plain convolution) equals W^T g with
    all-ones weights, where it applies and where it falls back (strides, groups)."""
    op = LinearOp(kind, torch.ones(weight, dtype=torch.float64), None, options)
    spatial = (9, 6, 5)[: len(weight) - 2]
    like = torch.zeros((2, weight[1] * options["groups"], *spatial) if kind == "conv" else (2, 3, weight[1]), dtype=torch.float64)
    grad = torch.rand(op.forward(like, op.weight, None).shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(op.backward_of_ones(grad, like), op.backward(grad, op.weight, like), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool, shape", [(torch.nn.functional.adaptive_avg_pool2d, (2, 3, 5, 7)),
                                         (torch.nn.functional.adaptive_avg_pool3d, (2, 3, 4, 5, 3))])
def test_average_pools_pass_relevance_as_by_autograd(pool, shape):
    """Adaptive average pools use torch's own transposed op; the same relevance as through autograd."""
    from unboxed.attribution.relevance_mode import TRANSPOSES, _Ratio

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=generator, dtype=torch.float64, requires_grad=True)
    size = (2,) * (len(shape) - 2)
    seed = torch.rand((shape[0], shape[1], *size), generator=generator, dtype=torch.float64)
    direct, = torch.autograd.grad(_Ratio.apply(x, lambda t: pool(t, size), 1e-12, TRANSPOSES[pool]), x, seed)
    nested, = torch.autograd.grad(_Ratio.apply(x, lambda t: pool(t, size), 1e-12), x, seed)
    torch.testing.assert_close(direct, nested, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(direct.sum(), seed.sum(), rtol=1e-9, atol=0)  # conserves (positive inputs)


def test_deeplift_shap_agrees_with_captum():
    model, inputs = models.relu_clone_maxpool(2)
    background = torch.rand(3, *inputs.shape[1:], generator=torch.Generator().manual_seed(0), dtype=inputs.dtype)
    ours = DeepLiftShap(model, background=background).explain(inputs, target=1).values
    theirs = oracles.captum_deeplift_shap(model, inputs, 1, background)
    assert_close_relative(ours, theirs, rtol=1e-6)


def test_the_model_is_as_it_was_after_canonizing_and_explaining_even_when_it_raises(test_models):
    model, inputs = test_models["digits_resnet"]
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
    LRP(model, composite="epsilon_gamma_box").explain(inputs)
    DeepLift(model).explain(inputs)
    DeepLift(model, rule="reveal_cancel").explain(inputs)  # canonizes too
    with pytest.raises(InputError):
        LRP(model, rules={"fc": "not a rule"})
    with pytest.raises(Exception):
        LRP(model).explain(inputs, target=99)
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before)
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()) == hooks
    assert all(getattr(m, "bias", None) is not None or not isinstance(m, nn.Conv2d) or m.bias is None for m in model.modules())
    model.eval()


def test_a_layer_no_rule_covers_is_named():
    class WithNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear, self.norm, self.head = nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.norm(self.linear(x)).relu())

    model, inputs = WithNorm(), torch.rand(2, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="no rule for layer 'norm'.*rules="):
        LRP(model).explain(inputs, target=0)
    given = LRP(model, composite="lrp0", rules={"norm": Epsilon(0.0)}, stabiliser=1e-12).explain(inputs, target=0)
    assert given.values.shape == (2, 4) and np.all(np.isfinite(given.values))  # the advice in the message works


def test_bad_settings_are_clear():
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(InputError, match="unknown composite"):
        LRP(net, composite="nope")
    with pytest.raises(InputError, match="alpha - beta = 1"):
        AlphaBeta(2.0, 2.0)
    with pytest.raises(InputError, match="baseline has shape"):
        DeepLift(net, baselines=torch.zeros(5)).explain(torch.rand(2, 3), target=0)
    with pytest.raises(InputError, match="background must be rows"):
        DeepLiftShap(net, background=torch.zeros(2, 4)).explain(torch.rand(2, 3), target=0)


def test_zbox_bounds_default_to_the_first_layer_input_range():
    model, inputs = models.three_ways(0)[0], models.three_ways(0)[3]
    explicit = LRP(model, composite="epsilon_gamma_box", low=float(inputs.min()), high=float(inputs.max()))
    assert_close_relative(LRP(model, composite="epsilon_gamma_box").explain(inputs, target=0).values,
                          explicit.explain(inputs, target=0).values, rtol=1e-10)
    assert isinstance(explicit.built_composite(inputs).first, ZBox)


class _Difference(nn.Module):
    """relu(x1 - x2), written as a sum of two activations (a residual-style connection)."""

    def forward(self, x):
        return torch.relu(x[:, :1] + (-x[:, 1:2]))


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU()),
    _Difference(),
])
def test_reveal_cancel_splits_positive_and_negative_terms_as_the_paper(model):
    """y = relu(x1 - x2) at x = (2, 1), reference 0: dz+ = 2, dz- = -1, so dy+ = (relu(2) - 0)/2 + (relu(1) -
    relu(-1))/2 = 1.5 and dy- = (relu(-1) - 0)/2 + (relu(1) - relu(2))/2 = -0.5 (Shrikumar et al. 2017, 3.5.3);
    rescale gives the whole ratio 1 to both terms: (2, -1)."""
    if isinstance(model, nn.Sequential):
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
    x = torch.tensor([[2.0, 1.0]])
    revealed = DeepLift(model, rule="reveal_cancel").explain(x, target=0)
    rescaled = DeepLift(model).explain(x, target=0)
    np.testing.assert_allclose(revealed.values, [[1.5, -0.5]], atol=1e-6)
    np.testing.assert_allclose(rescaled.values, [[2.0, -1.0]], atol=1e-6)


@pytest.mark.parametrize("name", ["digits_cnn", "breast_cancer_mlp", "digits_resnet", "efficientnet_lite0"])
def test_reveal_cancel_adds_up_too(test_models, name):
    model, inputs = test_models[name]
    result = DeepLift(model, rule="reveal_cancel").explain(inputs)
    assert np.abs(result.delta).max() <= 1e-5 * np.abs(result.scores - result.base).max()
