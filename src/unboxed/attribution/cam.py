"""Class activation maps: CAM, Grad-CAM, Grad-CAM++ and Guided Grad-CAM.

Every CAM is a weighted sum of a layer's activation maps, map = sum_k w_k A_k (then ReLU), and
the variants differ only in the channel weights w_k. `BaseCAM` does the rest once: it finds the
layer, checks that it is used once per forward pass and has spatial dimensions, gets gradients
and activations in chunks under the adapter's memory budget, and upsamples the map to the input.
A new variant overrides `channel_weights` (and sets `needs_gradients = False` if it has no use
for them), as CAM, Grad-CAM and Grad-CAM++ below do.

Shapes: with `upsample` set, CAMs are (n, 1, *input spatial dims), one map per image that
broadcasts over the input channels (for (n, C, H, W) pictures: (n, 1, H, W)); with
`upsample=None` they are the layer-sized maps (n, 1, h, w). Guided Grad-CAM multiplies Guided
Backprop by the upsampled map and so has the inputs' shape (n, C, H, W).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, ModelAccessError
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from ..validation import check_choice
from .base import AttributionExplainer
from .guided import GuidedBackprop

UPSAMPLE_MODES = ("bilinear", "nearest", "area", None)
_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_LINEAR_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


class BaseCAM(AttributionExplainer):
    """Base of class activation maps: map = ReLU(sum_k w_k A_k) over the channels k of `layer`.

    Settings shared by every variant:

    - `layer`: dotted name (or the module itself) of a layer whose output has channels and
      spatial dimensions, (n, K, h, w); default: the last convolution of the model.
    - `upsample`: "bilinear" (default; linear/trilinear for 1-D/3-D maps), "nearest" or "area"
      resize the map to the input's spatial size, giving (n, 1, H, W); None keeps (n, 1, h, w).
    - `relu`: keep only the positive evidence (True, as in the papers).

    Subclasses implement `channel_weights(gradients, activations, target) -> (n, K)`.
    """

    needs_gradients = True

    def __init__(self, model, layer: str | nn.Module | None = None, upsample: str | None = "bilinear", relu: bool = True):
        super().__init__(model)
        self.layer, self.upsample, self.relu = layer, upsample, relu

    def settings(self):
        settings = super().settings()
        if isinstance(self.layer, nn.Module):
            settings["layer"] = type(self.layer).__name__
        return settings

    def channel_weights(self, gradients: torch.Tensor | None, activations: torch.Tensor, target: Target) -> torch.Tensor:
        """Weight of every channel, (n, K), from d score / d activations and the activations (n, K, ...)."""
        raise NotImplementedError

    # --- the shared work ------------------------------------------------------------------------
    def attribute(self, inputs: torch.Tensor, target: Target):
        cams, scores = self.layer_maps(inputs, target)
        return self.resize(cams, inputs), {"scores": scores}

    def layer_maps(self, inputs: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer-sized maps (n, 1, h, w) and the explained scores (n,), chunk by chunk."""
        check_choice(self.upsample, "upsample", UPSAMPLE_MODES)
        if not isinstance(self.relu, bool):
            raise InputError(f"relu must be True or False, got {self.relu!r}")
        name, module = self._resolve_layer()
        checked = ("layer checked", id(module), tuple(inputs.shape[1:]), self.upsample is None)
        if checked not in self.model._probe_cache:  # one probe pass per layer and input shape
            self._check_layer(inputs, name, module)
            self.model._probe_cache[checked] = True
        size = self.model.chunk_size(inputs, with_grad=False)  # the backward stops at the layer
        cams, scores = [], []
        for start in range(0, len(inputs), size):
            chunk, part = inputs[start : start + size], target.take(slice(start, start + size))
            if self.needs_gradients:
                grads, score, acts = self.model.gradients(chunk, part, layer=module)
            else:
                grads, (score, acts) = None, self._activations(chunk, part, module)
            weights = self.channel_weights(grads, acts, part)
            cam = torch.einsum("nk,nk...->n...", weights.to(acts.dtype), acts)[:, None]
            cams.append(cam.clamp(min=0) if self.relu else cam)
            scores.append(score)
        return torch.cat(cams), torch.cat(scores)

    def resize(self, cams: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Upsample layer maps (n, 1, *spatial) to the inputs' spatial size, per the `upsample` setting."""
        if self.upsample is None:
            return cams
        mode = _LINEAR_MODE[cams.ndim - 2] if self.upsample == "bilinear" else self.upsample
        return F.interpolate(cams, size=tuple(inputs.shape[2:]), mode=mode)

    def _resolve_layer(self) -> tuple[str, nn.Module]:
        if self.layer is not None:
            module = self.model.layer(self.layer)
            return (self.layer if isinstance(self.layer, str) else type(module).__name__), module
        convs = self.model.layer_names(_CONV_TYPES)
        if not convs:
            raise InputError(
                f"{self.info.name} needs a layer with channels and spatial dimensions, and the model has no "
                "convolution to default to: give layer='name' (see adapt(model).layer_names())"
            )
        return convs[-1], self.model.layer(convs[-1])

    def _check_layer(self, inputs: torch.Tensor, name: str, module: nn.Module) -> None:
        """One forward pass of one sample: the layer must run once and give (1, K, *spatial)."""
        outputs = []
        handle = module.register_forward_hook(lambda _m, _a, out: outputs.append(out))
        try:
            with self.model.preserved(), torch.no_grad():
                self.model._call(inputs[:1])
        finally:
            handle.remove()
        convs = ", ".join(repr(n) for n in self.model.layer_names(_CONV_TYPES)[-3:]) or "a convolution"
        if not outputs:
            raise InputError(f"layer {name!r} is not used when the model runs, so it has no activations; try {convs}")
        if len(outputs) > 1:
            raise InputError(
                f"layer {name!r} is called {len(outputs)} times per forward pass (a module reused in several places), "
                f"so its activations are ambiguous; pick a layer used once, such as {convs}"
            )
        out = outputs[0]
        if not isinstance(out, torch.Tensor) or out.ndim < 3:
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InputError(
                f"{self.info.name} needs a layer with channels and spatial dimensions (n, K, h, w); layer {name!r} "
                f"gives {shape} per sample; try {convs}"
            )
        if self.upsample is not None and out.ndim != inputs.ndim:
            raise InputError(
                f"cannot upsample the {out.ndim - 2}-d maps of layer {name!r} to inputs of shape {tuple(inputs.shape[1:])} "
                "(channels first, then as many spatial dims as the layer); use upsample=None for layer-sized maps"
            )

    def _activations(self, inputs: torch.Tensor, target: Target, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores and layer activations without gradients (for variants that need no gradients)."""
        captured = []  # a copy: a later in-place op (ReLU(inplace=True)) must not change it
        handle = module.register_forward_hook(lambda _m, _a, out: captured.append(out.clone()))
        try:
            with self.model.preserved(), torch.no_grad():
                scores = target.select(self.model._call(inputs))
        finally:
            handle.remove()
        return scores, captured[0]


@register
class CAM(BaseCAM):
    """Class Activation Mapping (Zhou et al., 2016), for models ending in GAP and a linear layer.

    The channel weights are the head's weight row of the target class, so with `relu=False` and
    `upsample=None` the map's spatial mean plus the head's bias is the class logit itself.
    `layer` must be the layer whose output is globally average-pooled into `head` (default: the
    last convolution; for a conv followed by an activation, name the activation module).
    `head`: the final nn.Linear (default: the model's last nn.Linear). No gradients are used.
    Targets must be class indices (a callable target has no weight row).

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    >>> CAM(model, upsample=None).explain(torch.rand(2, 1, 6, 6), target=0).values.shape
    (2, 1, 6, 6)
    """

    info = MethodInfo(
        "cam", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.INTERNALS,
        "last conv maps weighted by the linear head's class weights", "Zhou et al. 2016",
    )
    needs_gradients = False

    def __init__(self, model, layer: str | nn.Module | None = None, head: str | nn.Module | None = None,
                 upsample: str | None = "bilinear", relu: bool = True):
        super().__init__(model, layer=layer, upsample=upsample, relu=relu)
        self.head = head

    def settings(self):
        settings = super().settings()
        if isinstance(self.head, nn.Module):
            settings["head"] = type(self.head).__name__
        return settings

    def _resolve_head(self) -> tuple[str, nn.Linear]:
        if self.head is None:
            linears = self.model.layer_names(nn.Linear)
            if not linears:
                raise ModelAccessError(
                    "CAM needs a model that ends in global average pooling and a linear layer (nn.Linear), and this "
                    "model has none; use GradCAM ('grad_cam'), which works with any head"
                )
            name = linears[-1]
        else:
            name = self.head if isinstance(self.head, str) else type(self.head).__name__
        head = self.model.layer(self.head if self.head is not None else name)
        if not isinstance(head, nn.Linear):
            raise InputError(f"CAM's head must be an nn.Linear layer; {name!r} is a {type(head).__name__}")
        return name, head

    def attribute(self, inputs: torch.Tensor, target: Target):
        if target.index is None:
            raise InputError("CAM needs class-index targets (its weights are a row of the linear head); "
                             "for a callable target use GradCAM")
        name, head = self._resolve_head()
        if int(target.index.max()) >= head.out_features:
            raise InputError(f"target {int(target.index.max())} is out of range for head {name!r} "
                             f"with {head.out_features} outputs")
        return super().attribute(inputs, target)

    def channel_weights(self, gradients, activations, target):
        name, head = self._resolve_head()
        if head.in_features != activations.shape[1]:
            layer = self._resolve_layer()[0]
            raise InputError(
                f"CAM: layer {layer!r} has {activations.shape[1]} channels but head {name!r} takes "
                f"{head.in_features} features; CAM needs the layer that is globally average-pooled straight "
                "into the head (or use GradCAM, which needs no such structure)"
            )
        return head.weight.detach()[target.index.to(head.weight.device)]


@register
class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al., 2017): channel weights are the spatial mean of d score / d A_k.

    Works with any head; agrees with Captum's `LayerGradCam(relu_attributions=True)` on the
    layer-sized map (`upsample=None`). On a GAP + linear model it equals CAM divided by h*w.

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    >>> GradCAM(model, layer="1").explain(torch.rand(2, 3, 8, 8), target=1).values.shape
    (2, 1, 8, 8)
    """

    info = MethodInfo(
        "grad_cam", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.INTERNALS,
        "layer maps weighted by their spatially averaged gradients", "Selvaraju et al. 2017",
    )

    def channel_weights(self, gradients, activations, target):
        return gradients.flatten(2).mean(dim=2)


@register
class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhay et al., 2018), closed form under the exp(score) assumption.

    alpha = g^2 / (2 g^2 + sum_ij(A) g^3) (0 where g = 0), weights = sum_ij alpha * ReLU(g), with
    g = d score / d A; the same formula as pytorch-grad-cam.
    """

    info = MethodInfo(
        "grad_cam_pp", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.INTERNALS,
        "Grad-CAM with pixel-wise weighting of positive gradients", "Chattopadhay et al. 2018",
    )
    eps = 1e-6

    def channel_weights(self, gradients, activations, target):
        g2 = gradients.pow(2)
        sums = activations.flatten(2).sum(dim=2).view(*activations.shape[:2], *([1] * (activations.ndim - 2)))
        alpha = g2 / (2 * g2 + sums * g2 * gradients + self.eps)
        alpha = torch.where(gradients != 0, alpha, torch.zeros_like(alpha))
        return (alpha * gradients.clamp(min=0)).flatten(2).sum(dim=2)


@register
class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM (Selvaraju et al., 2017): Guided Backprop times the upsampled Grad-CAM map.

    Returns the inputs' shape (n, C, H, W). Defaults follow Captum's `GuidedGradCam`: ReLU on the
    map and nearest-neighbour upsampling (`upsample="nearest"`; "bilinear" or "area" also work).
    Guided Backprop here also guides ReLU6 and functional ReLUs (see `GuidedBackprop`).
    """

    info = MethodInfo(
        "guided_grad_cam", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.INTERNALS,
        "guided backprop masked by the upsampled Grad-CAM map", "Selvaraju et al. 2017",
    )

    def __init__(self, model, layer: str | nn.Module | None = None, upsample: str = "nearest", relu: bool = True):
        super().__init__(model, layer=layer, upsample=upsample, relu=relu)

    def attribute(self, inputs: torch.Tensor, target: Target):
        if self.upsample is None:
            raise InputError("Guided Grad-CAM multiplies the map with input gradients, so it needs upsample "
                             f"set to one of {', '.join(repr(m) for m in UPSAMPLE_MODES if m)}")
        cams, scores = self.layer_maps(inputs, target)
        guided, _ = GuidedBackprop(self.model).attribute(inputs, target)
        return guided * self.resize(cams, inputs), {"scores": scores}
