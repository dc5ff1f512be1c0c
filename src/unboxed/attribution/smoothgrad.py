"""SmoothGrad, SmoothGrad-squared and VarGrad: any gradient method averaged over noisy copies."""
from __future__ import annotations

import torch

from ..random import torch_generator
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, get_method, register
from ..targets import Target
from ..validation import check_choice, check_positive_float, check_positive_int
from .base import AttributionExplainer

VARIANTS = ("smoothgrad", "smoothgrad_sq", "vargrad")


@register
class SmoothGrad(AttributionExplainer):
    """Average a gradient method over `n_samples` noisy copies of each input (Smilkov et al., 2017).

    Noise is Gaussian with standard deviation `noise_level * (max(x) - min(x))` per sample, drawn
    from a generator seeded with `seed` (same seed, same result, on any device and batch size;
    None draws fresh noise each call).
    `variant`: "smoothgrad" (mean), "smoothgrad_sq" (mean of squares, Adebayo et al.) or "vargrad"
    (variance). `method` names the wrapped gradient method; extra keywords are its settings.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> result = SmoothGrad(model, method="saliency", absolute=False, n_samples=4).explain(torch.ones(2, 3), target=0)
    >>> bool(torch.allclose(torch.tensor(result.values), model.weight.expand(2, 3)))
    True
    """

    info = MethodInfo(
        "smoothgrad", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.GRADIENTS,
        "gradient method averaged over noisy copies of the input", "Smilkov et al. 2017",
    )

    def __init__(self, model, method: str = "saliency", n_samples: int = 25, noise_level: float = 0.15,
                 variant: str = "smoothgrad", seed: int | None = 0, **method_settings):
        super().__init__(model)
        self.method, self.n_samples, self.noise_level, self.variant, self.seed = method, n_samples, noise_level, variant, seed
        self.method_settings = method_settings
        self.base = get_method(method)(self.model, **method_settings)

    def settings(self):
        return {**super().settings(), **self.method_settings}

    def attribute(self, inputs: torch.Tensor, target: Target):
        check_positive_int(self.n_samples, "n_samples")
        check_positive_float(self.noise_level, "noise_level", allow_zero=True)
        check_choice(self.variant, "variant", VARIANTS)
        n = len(inputs)
        flat = inputs.reshape(n, -1)
        low, high = torch.aminmax(flat, dim=1)
        sigma = (self.noise_level * (high - low)).view(-1, *([1] * (inputs.ndim - 1)))
        generator = torch_generator(self.seed)
        draws_per_call = max(1, self.model.chunk_size(inputs, with_grad=True) // n)
        squares = self.variant != "smoothgrad"  # plain SmoothGrad needs no second moment
        total = torch.zeros_like(inputs)
        total_sq = torch.zeros_like(inputs) if squares else None
        for first in range(0, self.n_samples, draws_per_call):
            draws = min(draws_per_call, self.n_samples - first)
            # drawn on the CPU in a fixed order: the same noise whatever the device or chunking
            noise = torch.randn((draws, *inputs.shape), generator=generator, dtype=inputs.dtype).to(inputs.device)
            noisy = torch.addcmul(inputs, noise, sigma).reshape(draws * n, *inputs.shape[1:])
            values, _ = self.base._attribute_with_extras(noisy, target.repeat(draws))
            values = values.reshape(draws, *inputs.shape)
            total += values.sum(0)
            if squares:
                total_sq += (values**2).sum(0)
        mean = total / self.n_samples
        if self.variant == "smoothgrad":
            return mean
        if self.variant == "smoothgrad_sq":
            return total_sq / self.n_samples
        return total_sq / self.n_samples - mean**2
