"""Guided Backprop and DeconvNet: gradients with a modified backward through every ReLU-family activation."""
from __future__ import annotations

import torch

from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from .backward_rules import ActivationRule, ActivationRuleMode, DeconvRule, GuidedRule
from .base import AttributionExplainer


class _RuledGradient(AttributionExplainer):
    rule: ActivationRule

    def attribute(self, inputs: torch.Tensor, target: Target):
        with ActivationRuleMode(self.rule):
            grads, scores, _ = self.model.gradients(inputs, target)
        return grads, {"scores": scores}


@register
class GuidedBackprop(_RuledGradient):
    """Guided Backprop (Springenberg et al., 2015).

    Applies the guided rule to every ReLU-family activation however it is called: `nn.ReLU`
    modules (also in-place or reused), `F.relu`/`torch.relu` in forward, and `ReLU6`/`hardtanh`
    with their two kinks. (Captum's version hooks `nn.ReLU` modules only, so it leaves ReLU6 and
    functional calls with the plain gradient.)

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> GuidedBackprop(model).explain(torch.ones(1, 2), target=0).values.shape
    (1, 2)
    """

    info = MethodInfo(
        "guided_backprop", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "gradient with negative signals stopped at every ReLU", "Springenberg et al. 2015",
    )
    rule = GuidedRule()


@register
class Deconvolution(_RuledGradient):
    """DeconvNet (Zeiler & Fergus, 2014): back-projects only positive signals, ignoring ReLU masks.

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> Deconvolution(model).explain(torch.ones(1, 2), target=0).values.shape
    (1, 2)
    """

    info = MethodInfo(
        "deconvnet", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "back-projection of positive signals through ReLUs", "Zeiler & Fergus 2014",
    )
    rule = DeconvRule()
