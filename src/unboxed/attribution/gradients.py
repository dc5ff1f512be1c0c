"""Plain gradient methods: Saliency (signed or absolute gradients) and Input x Gradient."""
from __future__ import annotations

import torch

from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from .base import AttributionExplainer


@register
class Saliency(AttributionExplainer):
    """Gradient of the target score with respect to the input (Simonyan et al., 2014).

    `absolute=True` returns |gradient| as in the original saliency maps; `False` keeps the sign.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> result = Saliency(model, absolute=False).explain(torch.ones(2, 3), target=0)
    >>> bool(torch.allclose(torch.tensor(result.values[0]), model.weight[0]))
    True
    """

    info = MethodInfo(
        "saliency", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "gradient of the score w.r.t. the input", "Simonyan et al. 2014",
    )

    def __init__(self, model, absolute: bool = True):
        super().__init__(model)
        self.absolute = absolute

    def attribute(self, inputs: torch.Tensor, target: Target):
        grads, scores, _ = self.model.gradients(inputs, target)
        return (grads.abs() if self.absolute else grads), {"scores": scores}


@register
class InputXGradient(AttributionExplainer):
    """Input times gradient (Shrikumar et al., 2016): first-order Taylor term with a zero baseline.

    >>> import torch
    >>> model = torch.nn.Linear(2, 1, bias=False)
    >>> result = InputXGradient(model).explain(torch.tensor([[2.0, 3.0]]), target=0)
    >>> bool(abs(result.values.sum() - result.scores[0]) < 1e-6)
    True
    """

    info = MethodInfo(
        "input_x_gradient", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "input times gradient", "Shrikumar et al. 2016",
    )

    def attribute(self, inputs: torch.Tensor, target: Target):
        grads, scores, _ = self.model.gradients(inputs, target)
        return inputs * grads, {"scores": scores}
