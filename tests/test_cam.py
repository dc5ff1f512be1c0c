"""CAM, Grad-CAM, Grad-CAM++ and Guided Grad-CAM: agreement with Captum, known identities, errors, model hygiene."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import close
import torch
from torch import nn

import unboxed
from unboxed.attribution import CAM, GradCAM, GradCAMPlusPlus, GuidedGradCAM
from unboxed.errors import InputError, LayerNotFoundError, ModelAccessError

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")




def gap_linear_model(seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


# --- agreement with Captum ----------------------------------------------------------------------
def test_grad_cam_matches_captum_on_digits(digits_batch):
    model, x, t = digits_batch
    ours = GradCAM(model, layer="conv3", upsample=None).explain(x, t)
    theirs = captum_attr.LayerGradCam(model, model.conv3).attribute(x, t, relu_attributions=True).detach()
    assert ours.values.shape == (8, 1, 8, 8)
    close(ours.values, theirs)
    assert (theirs > 0).any()  # a non-trivial map
    # upsampled: Captum's interpolation of the same map, per mode
    for mode in ("bilinear", "nearest"):
        up = GradCAM(model, layer="conv3", upsample=mode).explain(x, t).values
        assert up.shape == (8, 1, 32, 32)
        close(up, captum_attr.LayerAttribution.interpolate(theirs, (32, 32), mode))


def test_guided_grad_cam_matches_captum_on_digits(digits_batch):
    model, x, t = digits_batch
    ours = GuidedGradCAM(model, layer="conv3").explain(x, t).values
    theirs = captum_attr.GuidedGradCam(model, model.conv3).attribute(x, t).detach()
    assert ours.shape == tuple(x.shape)
    close(ours, theirs)
    assert np.abs(ours).max() > 0


def test_grad_cam_matches_captum_on_efficientnet(effnet_batch):
    model, x, t = effnet_batch
    ours = GradCAM(model, upsample=None).explain(x, t).values  # default layer: last conv, _conv_head
    theirs = captum_attr.LayerGradCam(model, model._conv_head).attribute(x, t, relu_attributions=True).detach()
    assert ours.shape == (2, 1, 7, 7)
    close(ours, theirs)
    assert (theirs > 0).any()


# --- identities -----------------------------------------------------------------------------------
@pytest.mark.parametrize("relu", [True, False])
def test_cam_is_grad_cam_times_positive_scale_on_gap_linear(relu):
    """Grad-CAM paper: on GAP + linear, d y_c / d A_k = w_ck / (h w), so Grad-CAM = CAM / (h w)."""
    model = gap_linear_model()
    x = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 2, 3, 1])
    cam = CAM(model, layer="3", upsample=None, relu=relu).explain(x, target).values
    grad = GradCAM(model, layer="3", upsample=None, relu=relu).explain(x, target).values
    flat_cam, flat_grad = cam.reshape(5, -1), grad.reshape(5, -1)
    live = np.abs(flat_cam).max(1) > 0
    assert live.sum() >= 3  # non-trivial maps
    np.testing.assert_array_equal(np.abs(flat_grad).max(1) > 0, live)
    # least-squares per-sample scale, then the maps must agree up to that scale
    scale = (flat_cam[live] * flat_grad[live]).sum(1) / (flat_grad[live] ** 2).sum(1)
    assert (scale > 0).all()
    np.testing.assert_allclose(scale, 36.0, rtol=1e-5)  # h * w
    np.testing.assert_allclose(flat_cam, 36.0 * flat_grad, rtol=1e-5, atol=1e-6 * np.abs(flat_cam).max())


def test_cam_equals_grad_cam_scaled_on_digits(digits_batch):
    model, x, t = digits_batch
    cam = CAM(model, layer="relu3", head="fc", upsample=None).explain(x, t).values
    grad = GradCAM(model, layer="relu3", upsample=None).explain(x, t).values
    close(grad * 64, cam)
    # upsampling is linear, so it keeps the identity
    close(GradCAM(model, layer="relu3").explain(x, t).values * 64, CAM(model, layer="relu3").explain(x, t).values)


def test_cam_mean_plus_bias_is_the_logit(digits_batch):
    model, x, t = digits_batch
    result = CAM(model, layer="relu3", upsample=None, relu=False).explain(x, t)
    logits = result.values.reshape(len(x), -1).mean(1) + model.fc.bias.detach().numpy()[t.numpy()]
    np.testing.assert_allclose(logits, result.scores, rtol=1e-5, atol=1e-5)


def test_grad_cam_is_linear_in_the_target_without_relu(digits_batch):
    model, x, _ = digits_batch
    explainer = GradCAM(model, layer="conv3", upsample=None, relu=False)
    both = explainer.explain(x, lambda out: out[:, 3] - 2 * out[:, 5]).values
    close(both, explainer.explain(x, 3).values - 2 * explainer.explain(x, 5).values)


def test_grad_cam_pp_matches_the_closed_form(digits_batch):
    model, x, t = digits_batch
    acts = {}
    handle = model.conv3.register_forward_hook(lambda m, a, out: acts.setdefault("a", out))
    try:
        out = model(x)
        (g,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), acts["a"])
    finally:
        handle.remove()
    a, g = acts["a"].detach().double().numpy(), g.double().numpy()
    alpha = g**2 / (2 * g**2 + a.sum(axis=(2, 3), keepdims=True) * g**3 + 1e-6)
    alpha = np.where(g != 0, alpha, 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(2, 3))
    expected = np.maximum((weights[:, :, None, None] * a).sum(1, keepdims=True), 0)
    ours = GradCAMPlusPlus(model, layer="conv3", upsample=None).explain(x, t).values
    close(ours, expected)
    assert (ours >= 0).all() and ours.max() > 0


def test_registry_and_taxonomy():
    names = {m.name: m for m in unboxed.methods(format="attribution")}
    for name, cls in [("cam", CAM), ("grad_cam", GradCAM), ("grad_cam_pp", GradCAMPlusPlus), ("guided_grad_cam", GuidedGradCAM)]:
        assert unboxed.get_method(name) is cls
        assert names[name].access.value == "internals" and names[name].scope.value == "local"
    assert GradCAM(gap_linear_model()).settings() == {"layer": None, "upsample": "bilinear", "relu": True}
    assert GuidedGradCAM(gap_linear_model()).settings()["upsample"] == "nearest"


def test_default_layer_is_the_last_conv():
    model = gap_linear_model()
    x = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    close(GradCAM(model).explain(x, 1).values, GradCAM(model, layer="2").explain(x, 1).values)
    close(GradCAM(model, layer=model[2]).explain(x, 1).values, GradCAM(model, layer="2").explain(x, 1).values)


def _inplace_pair():
    """The same conv -> ReLU -> GAP -> linear model, with an in-place and an out-of-place ReLU."""
    generator = torch.Generator().manual_seed(3)
    layers = lambda inplace: nn.Sequential(  # noqa: E731
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=inplace), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    plain, inplace = layers(False), layers(True)
    inplace.load_state_dict(plain.state_dict())
    return plain, inplace, torch.randn(3, 1, 6, 6, generator=generator)


def test_cam_activations_survive_a_later_in_place_relu():
    plain, inplace, x = _inplace_pair()
    expected = CAM(plain, layer="0", upsample=None, relu=False).explain(x, 1).values
    close(CAM(inplace, layer="0", upsample=None, relu=False).explain(x, 1).values, expected)
    assert (expected < 0).any()  # the pre-ReLU map, not the rectified one


def test_grad_cam_survives_a_later_in_place_relu():
    plain, inplace, x = _inplace_pair()
    expected = GradCAM(plain, layer="0", upsample=None, relu=False).explain(x, 1).values
    close(GradCAM(inplace, layer="0", upsample=None, relu=False).explain(x, 1).values, expected)


def test_one_dimensional_maps_upsample_linearly():
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.Conv1d(3, 4, 3, stride=2), nn.AdaptiveAvgPool1d(1),
                          nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(3, 2, 20, generator=torch.Generator().manual_seed(4))
    small = GradCAM(model, upsample=None, relu=False).explain(x, 0).values
    assert small.shape == (3, 1, 8)
    up = GradCAM(model, relu=False).explain(x, 0).values
    close(up, torch.nn.functional.interpolate(torch.tensor(small), size=20, mode="linear"))


# --- errors ---------------------------------------------------------------------------------------
def test_unknown_layer_suggests_close_names(digits_batch):
    model, x, t = digits_batch
    with pytest.raises(LayerNotFoundError, match=r"conv4.*did you mean.*'conv3'"):
        GradCAM(model, layer="conv4").explain(x[:2], t[:2])


def test_cam_without_linear_head_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ModelAccessError, match="linear layer.*GradCAM"):
        CAM(model).explain(torch.rand(2, 3, 6, 6), target=0)


def test_cam_channel_mismatch_is_explained(digits_batch):
    model, x, t = digits_batch
    with pytest.raises(InputError, match=r"'conv2' has 32 channels but head 'fc' takes 64"):
        CAM(model, layer="conv2").explain(x[:2], t[:2])
    with pytest.raises(InputError, match="must be an nn.Linear"):
        CAM(model, head="conv3").explain(x[:2], t[:2])
    with pytest.raises(InputError, match="class-index targets"):
        CAM(model).explain(x[:2], lambda out: out[:, 0])


def test_layer_reused_in_a_forward_pass_is_refused():
    class Reuser(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2, self.act = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1), nn.ReLU()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            x = self.act(self.conv2(self.act(self.conv1(x))))
            return self.fc(x.mean((2, 3)))

    x = torch.rand(2, 1, 5, 5)
    with pytest.raises(InputError, match=r"layer 'act' is called 2 times per forward pass.*'conv2'"):
        GradCAM(Reuser(), layer="act").explain(x, 0)
    with pytest.raises(InputError, match="channels and spatial dimensions.*'fc'"):
        GradCAM(Reuser(), layer="fc").explain(x, 0)
    assert GradCAM(Reuser()).explain(x, 0).values.shape == (2, 1, 5, 5)


def test_bad_settings_and_black_boxes_are_refused(digits_batch):
    model, x, t = digits_batch
    with pytest.raises(InputError, match="upsample must be one of"):
        GradCAM(model, upsample="cubic").explain(x[:2], t[:2])
    with pytest.raises(InputError, match="needs upsample"):
        GuidedGradCAM(model, upsample=None).explain(x[:2], t[:2])
    with pytest.raises(InputError, match="no convolution"):
        GradCAM(nn.Linear(3, 2)).explain(torch.rand(2, 3), 0)
    with pytest.raises(ModelAccessError, match="black box"):
        GradCAM(lambda a: a.sum(1))


# --- the model is left as it was --------------------------------------------------------------
def _hooks(model):
    return [
        (name, attr) for name, m in model.named_modules()
        for attr in ("_forward_hooks", "_backward_hooks", "_forward_pre_hooks", "_backward_pre_hooks")
        if getattr(m, attr)
    ]


class Flaky(nn.Module):
    """Wraps a model and raises on its `fail_at`-th forward call."""

    def __init__(self, inner, fail_at):
        super().__init__()
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyError("boom")
        return self.inner(x)


METHODS = [
    (CAM, {"layer": "inner.relu3"}),
    (GradCAM, {"layer": "inner.conv3"}),
    (GradCAMPlusPlus, {"layer": "inner.conv3"}),
    (GuidedGradCAM, {"layer": "inner.conv3"}),
]


@pytest.mark.parametrize("method, settings", METHODS, ids=[m.__name__ for m, _ in METHODS])
def test_model_unchanged_after_success_and_failure(digits_batch, method, settings):
    model, x, t = digits_batch
    wrapped = Flaky(copy.deepcopy(model), fail_at=-1).train()
    before = {k: v.clone() for k, v in wrapped.state_dict().items()}
    method(wrapped, **settings).explain(x[:3], t[:3])  # warm the adapter's per-module caches
    wrapped.calls = 0
    result = method(wrapped, **settings).explain(x[:3], t[:3])
    assert np.isfinite(result.values).all()
    calls = wrapped.calls
    for fail_at in range(1, calls + 1):  # fail at every forward after target resolution, hooks in place
        wrapped.calls, wrapped.fail_at = 0, fail_at
        with pytest.raises(KeyError, match="boom"):
            method(wrapped, **settings).explain(x[:3], t[:3])
        assert _hooks(wrapped) == []
        assert not torch._C._is_torch_function_mode_enabled()
    after = wrapped.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert _hooks(wrapped) == [] and all(m.training for m in wrapped.modules())
    assert all(p.requires_grad and p.grad is None for p in wrapped.parameters())


def test_model_unchanged_when_the_target_raises_midway(digits_batch):
    model, x, _ = digits_batch
    model = copy.deepcopy(model)
    calls = []

    def target(out):
        calls.append(1)
        if len(calls) > 1:  # after target resolution: inside the hooked gradient pass
            raise RuntimeError("target failed")
        return out[:, 0]

    for method in (GradCAM, GradCAMPlusPlus, GuidedGradCAM):
        calls.clear()
        with pytest.raises(RuntimeError, match="target failed"):
            method(model, layer="conv3").explain(x[:2], target)
        assert _hooks(model) == []
        assert not torch._C._is_torch_function_mode_enabled()
