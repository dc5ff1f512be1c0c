"""The LRP/DeepLIFT oracles (zennit 0.5.1, Captum 0.9.0) are proven before anything is compared with them.

On one bias-free linear layer every rule has a closed form; on small ReLU networks the oracles must
agree with each other, conserve what they claim to conserve, and show the quirks the oracle module
works around (functional/shared ReLUs and ReLU -> max-pool in Captum's DeepLift, skip additions in zennit).
"""
import copy

import pytest
import torch
from torch import nn

from relevance_models import (
    bias_free_cnn, bias_free_mlp, conv_batchnorm_net, one_layer_linear, relu_clone_maxpool, relu_into_maxpool,
    three_ways, twin_for_captum,
)
from relevance_oracles import (
    ZENNIT_RULES, canonizers, captum_deeplift, captum_deeplift_shap, captum_lrp, needs_zennit, residual_canonizers,
    zennit_epsilon_gamma_box, zennit_epsilon_plus_flat, zennit_rule,
)
from unboxed.zoo.digits_resnet import DigitsResNet
from unboxed.zoo.training import init_weights

TARGETS = torch.tensor([0, 1, 2, 1])  # one class per row of one_layer_linear's 4 rows


def _target_logits(model, inputs, target):
    with torch.no_grad():
        out = model(inputs)
    return out[torch.arange(len(out)), torch.as_tensor(target).expand(len(out))]


def _row_sums(maps):
    return maps.flatten(1).sum(1)


def _relative(ours, theirs):
    return float((ours - theirs).abs().max() / theirs.abs().max())


# --- one linear layer: each rule's closed form, with the target logit as output relevance -------------------
def _stabilised(denominator, epsilon=1e-6):
    """zennit's Stabilizer: add epsilon with the sign of the denominator (+ for 0)."""
    return denominator + epsilon * torch.where(denominator >= 0, 1.0, -1.0)


def _share(parts, relevance):
    """Split `relevance` (one per row) over features in proportion to `parts` (rows x features)."""
    return parts / _stabilised(parts.sum(1, keepdim=True)) * relevance[:, None]


def _expected(rule, x, w, f):
    pos, neg = w.clamp(min=0), w.clamp(max=0)
    xp, xn = x.clamp(min=0), x.clamp(max=0)
    z = (x * w).sum(1)
    if rule == "zero":  # LRP-0: the logit shared by the contributions x * w
        return x * w * (f / _stabilised(z, 1e-12))[:, None]
    if rule == "epsilon":  # epsilon 0.25, with the sign of z
        return x * w * (f / _stabilised(z, 0.25))[:, None]
    if rule in ("zplus", "alpha1beta0"):  # zennit's z+ also counts negative inputs through negative weights
        return _share(xp * pos + xn * neg, f)
    if rule == "alpha2beta1":
        return 2 * _share(xp * pos + xn * neg, f) - _share(xn * pos + xp * neg, f)
    if rule == "gamma":  # generalised gamma: the favoured sign depends on the sign of z
        up = xp * (w + 0.25 * pos) + xn * (w + 0.25 * neg)
        down = xp * (w + 0.25 * neg) + xn * (w + 0.25 * pos)
        return torch.where((z > 0)[:, None], _share(up, f), _share(down, f))
    if rule == "wsquare":
        return _share((w ** 2).expand_as(x), f)
    if rule == "flat":
        return _share(torch.ones_like(x), f)
    if rule == "zbox":  # bounds low = -3, high = 3
        return _share(x * w + 3 * pos - 3 * neg, f)
    raise AssertionError(rule)


@needs_zennit
@pytest.mark.parametrize("rule", sorted(ZENNIT_RULES))
def test_zennit_rules_match_their_closed_form_on_one_linear_layer(rule):
    model, x = one_layer_linear(0)
    settings = {"low": -3.0, "high": 3.0} if rule == "zbox" else {}
    ours = zennit_rule(model, x, TARGETS, rule, **settings)
    w, f = model.weight.detach()[TARGETS], _target_logits(model, x, TARGETS)
    expected = _expected(rule, x, w, f)
    assert _relative(ours, expected) < 1e-10
    assert _relative(x * w, _expected("zero", x, w, f)) < 1e-10  # LRP-0 is x * w exactly when there is no bias
    if rule != "epsilon":  # every other rule hands on all of the output relevance, up to its stabiliser 1e-6
        torch.testing.assert_close(_row_sums(ours), f, rtol=1e-3, atol=0)


@needs_zennit
def test_zennit_output_relevance_one_divides_the_map_by_the_target_logit():
    model, x = one_layer_linear(0)
    logit, one = (zennit_rule(model, x, TARGETS, "zero", output_relevance=r) for r in ("logit", "one"))
    f = _target_logits(model, x, TARGETS)
    torch.testing.assert_close(one, logit / f[:, None])
    torch.testing.assert_close(_row_sums(one), torch.ones(4, dtype=one.dtype))
    with pytest.raises(ValueError, match="output_relevance"):
        zennit_rule(model, x, TARGETS, "zero", output_relevance="probability")


@pytest.mark.parametrize("bias", [False, True])
def test_captum_lrp_and_deeplift_give_x_times_w_on_one_linear_layer(bias):
    model, x = one_layer_linear(0, bias=bias)
    w = model.weight.detach()[TARGETS]
    # LRP-0 with the logit as output relevance: x * w, the bias keeping its share f - sum(x * w)
    assert _relative(captum_lrp(model, x, TARGETS), x * w) < 1e-7
    torch.testing.assert_close(captum_deeplift(model, x, TARGETS), x * w, rtol=1e-12, atol=1e-12)
    baseline = torch.full_like(x, 0.5)
    torch.testing.assert_close(captum_deeplift(model, x, TARGETS, baseline), (x - 0.5) * w, rtol=1e-12, atol=1e-12)
    backgrounds = torch.randn(6, 5, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    shap = captum_deeplift_shap(model, x, TARGETS, backgrounds)
    torch.testing.assert_close(shap, (x - backgrounds.mean(0)) * w, rtol=1e-10, atol=1e-12)


def test_captum_lrp_gives_a_leaf_model_no_rule_unless_wrapped():
    from captum.attr import LRP

    model, x = one_layer_linear(0)
    raw = LRP(model).attribute(x.clone(), target=TARGETS)  # gradient x output: not relevance
    f, w = _target_logits(model, x, TARGETS), model.weight.detach()[TARGETS]
    torch.testing.assert_close(raw.detach(), w * f[:, None])
    assert _relative(captum_lrp(model, x, TARGETS), x * w) < 1e-7


# --- small ReLU networks: agreement and conservation ----------------------------------------------------------
@needs_zennit
@pytest.mark.parametrize("build", [bias_free_mlp, bias_free_cnn])
def test_bias_free_relu_nets_lrp0_equals_deeplift_equals_gradient_times_input(build):
    """Zero baseline, no biases: every reference activation is 0, so the rescale multipliers are the gradient."""
    model, x = build(0)
    x_grad = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x_grad)[:, 1].sum(), x_grad)
    expected = x * gradient
    assert _relative(zennit_rule(model, x, 1, "zero", stabilizer=1e-12), expected) < 1e-7
    assert _relative(captum_lrp(model, x, 1), expected) < 1e-4  # its fixed epsilon 1e-9 meets activations ~1e-4
    assert _relative(captum_deeplift(model, x, 1), expected) < 1e-12
    torch.testing.assert_close(_row_sums(expected), _target_logits(model, x, 1))  # conservation


@needs_zennit
def test_zennit_composites_conserve_the_logit_on_a_bias_free_cnn():
    model, x = bias_free_cnn(0)
    f = _target_logits(model, x, 2)
    tiny = {"epsilon": 1e-12, "stabilizer": 1e-12}  # the default 1e-6 absorbs ~1e-4 of these small logits
    plus_flat = zennit_epsilon_plus_flat(model, x, 2, **tiny)
    gamma_box = zennit_epsilon_gamma_box(model, x, 2, low=0.0, high=1.0, **tiny)
    for maps in (plus_flat, gamma_box):
        torch.testing.assert_close(_row_sums(maps), f, rtol=1e-7, atol=0)
        assert not torch.allclose(maps, zennit_rule(model, x, 2, "zero"), rtol=1e-2)  # the rules really changed


@needs_zennit
def test_relu_written_three_ways_gives_one_lrp_map_but_breaks_captum_deeplift():
    modules, functional, shared, x = three_ways(0)
    target = torch.tensor([0, 1, 2])
    for oracle in (lambda m: zennit_rule(m, x, target, "epsilon"), lambda m: zennit_epsilon_plus_flat(m, x, target),
                   lambda m: captum_lrp(m, x, target)):
        reference = oracle(modules)
        assert torch.equal(oracle(functional), reference) and torch.equal(oracle(shared), reference)
    # With biases, Captum's LRP (epsilon 1e-9) is zennit's LRP-0 up to the stabilisers.
    assert _relative(captum_lrp(modules, x, target), zennit_rule(modules, x, target, "zero", stabilizer=1e-12)) < 1e-6

    delta = _target_logits(modules, x, target) - _target_logits(modules, torch.zeros_like(x), target)
    right = captum_deeplift(twin_for_captum(modules), x, target)
    torch.testing.assert_close(_row_sums(right), delta, rtol=1e-10, atol=1e-12)
    functional_error = (_row_sums(captum_deeplift(functional, x, target)) - delta).abs().max()
    assert functional_error > 1e-3  # F.relu has no module to hook: Captum uses its gradient
    with pytest.raises(RuntimeError, match="used more than once"):
        captum_deeplift(shared, x, target)


@needs_zennit
def test_batchnorm_captum_lrp_as_its_own_layer_equals_zennit_lrp0_with_it_merged():
    model, x = conv_batchnorm_net(0)
    target = torch.tensor([0, 1, 2])
    merged = zennit_rule(model, x, target, "zero", canonizer_list=[canonizers.SequentialMergeBatchNorm()],
                         stabilizer=1e-12)
    assert _relative(captum_lrp(model, x, target), merged) < 1e-4  # the merged BatchNorm keeps its eps: ~5e-6
    unmerged = zennit_rule(model, x, target, "zero", stabilizer=1e-12)  # zennit passes relevance over BatchNorm
    assert _relative(unmerged, merged) > 0.1


def test_captum_deeplift_is_wrong_when_a_relu_feeds_a_maxpool_and_the_twins_fix_it():
    model, x = relu_into_maxpool(0)
    twin, same_x = relu_clone_maxpool(0)
    target = torch.tensor([0, 1, 2])
    assert torch.equal(x, same_x) and torch.equal(model(x), twin(x))
    delta = _target_logits(model, x, target) - _target_logits(model, torch.zeros_like(x), target)
    torch.testing.assert_close(_row_sums(captum_deeplift(twin, x, target)), delta, rtol=1e-10, atol=1e-12)
    assert (_row_sums(captum_deeplift(model, x, target)) - delta).abs().max() > 1e-3  # captum#1104
    hooked = twin_for_captum(model)
    assert torch.equal(captum_deeplift(hooked, x, target), captum_deeplift(twin, x, target))
    assert torch.equal(hooked(x), model(x)) and not model.pool1._forward_pre_hooks  # the original is untouched


def test_captum_deeplift_shap_is_the_mean_of_deeplift_over_baselines():
    model, x = relu_clone_maxpool(1)
    backgrounds = torch.rand(4, *x.shape[1:], dtype=x.dtype, generator=torch.Generator().manual_seed(5))
    shap = captum_deeplift_shap(model, x, 2, backgrounds)
    each = torch.stack([captum_deeplift(model, x, 2, b.expand_as(x)) for b in backgrounds])
    torch.testing.assert_close(shap, each.mean(0), rtol=1e-10, atol=1e-12)
    expected = _target_logits(model, x, 2) - _target_logits(model, backgrounds, 2).mean()
    torch.testing.assert_close(_row_sums(shap), expected, rtol=1e-10, atol=1e-12)


def test_the_digits_cnn_needs_its_captum_twin(digits):
    model, x = digits.model, digits.inputs[:3]
    twin = twin_for_captum(model)
    target = model(x).argmax(1)
    delta = _target_logits(model, x, target) - _target_logits(model, torch.zeros_like(x), target)
    assert torch.equal(twin(x), model(x))
    torch.testing.assert_close(_row_sums(captum_deeplift(twin, x, target)), delta, rtol=1e-4, atol=1e-4)
    assert (_row_sums(captum_deeplift(model, x, target)) - delta).abs().max() > 1e-2


# --- the digits ResNet under zennit ------------------------------------------------------------------------
def _bias_free_resnet() -> DigitsResNet:
    """An untrained DigitsResNet whose BatchNorms scale but do not shift, and no linear bias: LRP-0 must conserve."""
    net = init_weights(DigitsResNet(), 0).double().eval()
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data = torch.rand(module.num_features, generator=generator, dtype=torch.float64) + 0.5
            module.running_var.data = torch.rand(module.num_features, generator=generator, dtype=torch.float64) + 0.5
    nn.init.zeros_(net.fc.bias)
    return net


@needs_zennit
def test_residual_canonizers_make_zennit_conserve_through_skip_additions():
    net = _bias_free_resnet()
    x = torch.rand(2, 1, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    target, before = torch.tensor([3, 7]), copy.deepcopy(net.state_dict())
    f = _target_logits(net, x, target)
    # The model centres its input, (x - 0.3) / 0.4: zennit's map at the pixels is the map at the conv's input / 0.4.
    # (The merged BatchNorms still divide by sqrt(1 + eps): the canonized logits are off by ~1e-5.)
    canonized = zennit_rule(net, x, target, "zero", canonizer_list=residual_canonizers(), stabilizer=1e-12)
    torch.testing.assert_close(0.4 * _row_sums(canonized), f, rtol=5e-5, atol=0)
    plain = zennit_rule(net, x, target, "zero", stabilizer=1e-12)  # a bare `+` copies relevance to both terms
    torch.testing.assert_close(0.4 * _row_sums(plain), 4 * f, rtol=5e-5, atol=0)  # two blocks: 2 x 2
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not hasattr(net.block1, "canonizer_sum")  # the canonizers are removed afterwards


@needs_zennit
def test_zennit_imports_without_torchvision_but_its_torchvision_canonizers_say_why_they_are_missing():
    import importlib.util

    import zennit

    assert {"attribution", "canonizers", "composites", "rules"} <= set(vars(zennit))
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(AttributeError, match="needs torchvision"):
            zennit.torchvision.ResNetCanonizer
