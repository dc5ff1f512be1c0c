"""Integrated Gradients (Sundararajan et al., 2017), with Riemann and Gauss-Legendre rules."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from ..validation import check_choice, check_positive_int
from .base import AttributionExplainer
from .baselines import make_baselines

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def path_points(n_steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions alpha in [0, 1] along the path and the weight of each, for the quadrature `rule`.

    >>> alphas, weights = path_points(4, "riemann_trapezoid")
    >>> alphas.tolist(), round(float(weights.sum()), 12)
    ([0.0, 0.3333333333333333, 0.6666666666666666, 1.0], 1.0)
    """
    n = n_steps
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1), 0.5 * weights
    if rule == "riemann_trapezoid":
        if n < 2:
            raise InputError("riemann_trapezoid needs n_steps >= 2")
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0, 1, n), weights
    start = {"riemann_left": 0.0, "riemann_right": 1.0 / n, "riemann_middle": 0.5 / n}[rule]
    return start + np.arange(n) / n, np.full(n, 1.0 / n)


@register
class IntegratedGradients(AttributionExplainer):
    """Integrated Gradients: (x - x') times the gradient averaged along the straight path x' -> x.

    Completeness holds: attributions sum to f(x) - f(x'), up to the quadrature error that is
    returned per sample as `delta`. Path points are generated chunk by chunk, so memory stays
    within the adapter's budget at any `n_steps`. Several baselines (a list) are averaged.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> x = torch.tensor([[1.0, 2.0, 3.0]])
    >>> result = IntegratedGradients(model).explain(x, target=0)
    >>> bool(torch.allclose(torch.tensor(result.values), x * model.weight, atol=1e-6))
    True
    """

    info = MethodInfo(
        "integrated_gradients", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "path integral of gradients from a baseline", "Sundararajan et al. 2017",
    )

    def __init__(self, model, n_steps: int = 50, rule: str = "gausslegendre", baselines="zeros",
                 blur_sigma: float = 5.0, seed: int | None = 0):
        super().__init__(model)
        self.n_steps, self.rule, self.baselines, self.blur_sigma, self.seed = n_steps, rule, baselines, blur_sigma, seed

    def settings(self):
        settings = super().settings()
        if not isinstance(self.baselines, (str, int, float)):
            settings["baselines"] = "custom"
        return settings

    def attribute(self, inputs: torch.Tensor, target: Target):
        check_positive_int(self.n_steps, "n_steps")
        check_choice(self.rule, "rule", RULES)
        baselines = make_baselines(self.baselines, inputs, self.seed, self.blur_sigma)
        alphas, weights = path_points(self.n_steps, self.rule)
        n_paths = baselines.shape[0] * inputs.shape[0]
        starts = baselines.reshape(n_paths, *inputs.shape[1:])
        ends = inputs.repeat(baselines.shape[0], *([1] * (inputs.ndim - 1)))
        path_target = target.repeat(baselines.shape[0])
        integral = self._path_integral(starts, ends, path_target, alphas, weights)
        per_path = (ends - starts) * integral
        attributions = per_path.reshape(baselines.shape).mean(dim=0)
        scores = self.model.scores(inputs, target)
        start_scores = self.model.scores(starts, path_target).reshape(baselines.shape[0], -1).mean(dim=0)
        delta = attributions.reshape(len(inputs), -1).sum(dim=1) - (scores - start_scores)
        return attributions, {"scores": scores, "delta": delta}

    def _path_integral(self, starts, ends, target, alphas, weights) -> torch.Tensor:
        """Sum over path points of weight * gradient, for every path; chunked (path, step) pairs."""
        n_paths, n_steps = starts.shape[0], len(alphas)
        alphas_t = torch.as_tensor(alphas, dtype=starts.dtype, device=starts.device)
        weights_t = torch.as_tensor(weights, dtype=starts.dtype, device=starts.device)
        chunk = self.model.chunk_size(starts, with_grad=True)
        total = torch.zeros_like(starts)
        view = (-1,) + (1,) * (starts.ndim - 1)
        for first in range(0, n_paths * n_steps, chunk):
            pairs = torch.arange(first, min(first + chunk, n_paths * n_steps), device=starts.device)
            path, step = pairs // n_steps, pairs % n_steps
            alpha = alphas_t[step].view(view)
            points = starts[path] + alpha * (ends[path] - starts[path])
            grads, _, _ = self.model.gradients(points, target.take(path.cpu()))
            total.index_add_(0, path, grads * weights_t[step].view(view))
        return total
