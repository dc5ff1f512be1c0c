"""LEMNA (Guo et al. 2018): a mixture of linear regressions with a fused-lasso penalty, fitted by EM
on the sampled neighbourhood of each row; made for sequences, where adjacent features act together.

The fused lasso (sum_j |beta_j - beta_{j-1}| over adjacent features) is solved by ADMM for all rows
and mixture components at once: the beta-step's system is factorised once per M-step, and each
iteration is one small batched matmul and a soft-thresholding; no loop over rows, no per-row solver.
(A cumulative-sum basis turns the penalty into a plain lasso, but it is ill-conditioned (condition
number ~3e5 on the digits sequence model): FISTA would need thousands of iterations, ADMM needs ~50.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..maskers import Masker
from ..random import torch_generator
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import check_positive_float, check_positive_int
from .coalitions import CoalitionGame
from .lime import NeighbourhoodSampler
from .masked import MaskedExplainer
from .surrogate import LinearFit, solve_gram, weighted_gram, weighted_r2


# ADMM's step (a fraction of the data term's mean curvature) and over-relaxation: measured fastest
# (about 50 iterations to 1e-8) on the neighbourhoods of the digits sequence model
STEP, RELAXATION = 0.3, 1.6
INNER_ITERATIONS = 20  # per EM step but the last: EM refines the components anyway


def fused_lasso(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, penalty: float,
                active: torch.Tensor | None = None, normaliser: torch.Tensor | None = None,
                iterations: int = 2000, tolerance: float = 1e-8, state: dict | None = None) -> LinearFit:
    """Weighted fused lasso for every row at once (leading dims of `x` (..., n, p)):

        min_{b, beta}  sum_i w_i (y_i - b - x_i . beta)^2 / (2 S)  +  penalty * sum_j |beta_j - beta_{j-1}|

    with S = `normaliser` (default: the sum of the weights) and the intercept b not penalised.
    Inactive (padding) features get 0 and are not fused to their neighbours. penalty=0 is weighted
    least squares, solved directly. ADMM stops when every problem's residuals are below `tolerance`
    (relative to the size of the coefficients) or after `iterations`. A `state` dict carries ADMM's
    split and dual variables from one call to the next (a warm start for EM, whose problems change little).

    >>> x = torch.eye(4, dtype=torch.float64).repeat(5, 1)[None]  # each feature on its own
    >>> y = x[0] @ torch.tensor([1.0, 1.2, 5.0, 5.2], dtype=torch.float64)
    >>> fit = fused_lasso(x, y[None], torch.ones(1, 20, dtype=torch.float64), penalty=0.05)
    >>> [round(v, 3) for v in (fit.coef[0] + fit.intercept[0]).tolist()]  # pairs fused, then pulled together
    [1.2, 1.2, 5.0, 5.0]
    """
    gram = weighted_gram(x, y, weights)
    size = weights.sum(-1) if normaliser is None else normaliser.expand(weights.shape[:-1])
    size = size.clamp_min(torch.finfo(x.dtype).tiny)
    if penalty == 0:
        return solve_gram(gram, 0.0, active)
    p = x.shape[-1]
    shape = gram.moment.shape
    active = torch.ones(shape, dtype=torch.bool, device=x.device) if active is None else active.expand(shape)
    fused = active[..., 1:] & active[..., :-1]
    matrix = (gram.gram / size[..., None, None]).masked_fill(~active[..., None, :] | ~active[..., :, None], 0.0)
    moment = (gram.moment / size[..., None]).masked_fill(~active, 0.0)
    # rho on the scale of the data term (STEP); a small ridge keeps the factorisation of an empty component defined
    rho = STEP * (matrix.diagonal(dim1=-2, dim2=-1).sum(-1) / active.sum(-1).clamp_min(1)).clamp_min(1e-12)[..., None]
    eye = torch.eye(p, dtype=x.dtype, device=x.device)
    d = torch.diff(eye, dim=0) * fused[..., :, None]  # (..., p-1, p) differences between fused neighbours
    system = matrix + rho[..., None] * (d.transpose(-1, -2) @ d + 1e-10 * eye) + torch.diag_embed((~active).to(x.dtype))
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(system))
    # beta = start + lift @ (z - u) solves ADMM's beta step; iterate on the differences D beta alone:
    # one small matmul and a few elementwise ops per iteration, every row and component together
    start = (inverse @ moment[..., None])[..., 0]
    lift = rho[..., None] * inverse @ d.transpose(-1, -2)
    base, mix = (d @ start[..., None])[..., 0], d @ lift
    z = torch.zeros_like(base) if state is None or "split" not in state else state["split"]
    u = torch.zeros_like(z) if state is None or "dual" not in state else state["dual"] / rho  # scaled by this call's rho
    threshold = penalty / rho
    for step in range(iterations):
        differences = base + (mix @ (z - u)[..., None])[..., 0]
        previous = z
        shifted = z + RELAXATION * (differences - z) + u
        z = shifted - shifted.clamp(-threshold, threshold)  # soft-thresholding
        u = shifted - z
        if step % 10 == 9:
            scale = 1 + differences.abs().amax(-1, keepdim=True)
            gap = torch.maximum((differences - z).abs(), (z - previous).abs()).amax(-1, keepdim=True) / scale
            if bool((gap < tolerance).all()):
                break
    if state is not None:
        state.update(split=z, dual=u * rho, iterations=step + 1)
    beta = start + (lift @ (z - u)[..., None])[..., 0]
    return LinearFit(beta, gram.intercept(beta))


@dataclass
class Mixture:
    """K linear models per row, their noise variances and shares, and the samples' responsibilities
    (see `fit_mixture`)."""

    fit: LinearFit  # coef (rows, K, p), intercept (rows, K)
    variance: torch.Tensor  # (rows, K)
    share: torch.Tensor  # (rows, K)
    responsibility: torch.Tensor  # (rows, K, n)

    def predictions(self, x: torch.Tensor) -> torch.Tensor:
        """Every component's predictions (rows, K, n) for samples (rows, n, p)."""
        return self.fit.predict(x[:, None])


def fit_mixture(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, n_components: int, penalty: float,
                n_iterations: int = 30, active: torch.Tensor | None = None) -> Mixture:
    """EM for a mixture of `n_components` fused-lasso linear regressions, all rows at once.

    Samples count with their kernel `weights` (rows, n). The components start from the samples
    split by the residual of one weighted least-squares fit (lowest third, middle, highest...), so
    the start is deterministic and the components differ from the first step.

    >>> x = torch.linspace(0, 1, 40, dtype=torch.float64)[None, :, None]
    >>> y = torch.where(torch.arange(40) % 2 == 0, 2 * x[..., 0], 5 - x[..., 0])  # two lines, interleaved
    >>> mixture = fit_mixture(x, y, torch.ones(1, 40, dtype=torch.float64), 2, penalty=0.0)
    >>> sorted(round(v, 6) for v in mixture.fit.coef[0, :, 0].tolist())
    [-1.0, 2.0]
    """
    n, k = x.shape[1], int(n_components)
    size = weights.sum(-1)
    single = solve_gram(weighted_gram(x, y, weights), 0.0, active)
    order = (y - single.predict(x)).argsort(-1).argsort(-1)
    group = torch.div(order * k, n, rounding_mode="floor")  # (rows, n) in 0..K-1
    responsibility = torch.nn.functional.one_hot(group, k).to(x.dtype).transpose(1, 2)  # (rows, K, n)
    floor, warm = _variance_floor(y, weights), {}
    steps = n_iterations if k > 1 else 1  # one component: responsibilities are all 1 from the start
    for step in range(steps):
        # inexact M-steps (a few warm-started ADMM iterations) until the last, which is solved to the end
        iterations = 2000 if step == steps - 1 else INNER_ITERATIONS
        mixture = _maximise(x, y, weights, responsibility, penalty, active, size, floor, warm, iterations)
        responsibility = _expect(mixture, x, y)
        mixture.responsibility = responsibility
    return mixture


def _variance_floor(y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A floor for the components' noise variances: a millionth of the targets' weighted variance."""
    size = weights.sum(-1, keepdim=True).clamp_min(torch.finfo(y.dtype).tiny)
    mean = (weights * y).sum(-1, keepdim=True) / size
    return 1e-6 * ((weights * (y - mean) ** 2).sum(-1, keepdim=True) / size) + 1e-12


def _maximise(x, y, weights, responsibility, penalty, active, size, floor, warm, iterations) -> Mixture:
    component_weights = weights[:, None, :] * responsibility  # (rows, K, n)
    fit = fused_lasso(x[:, None], y[:, None], component_weights, penalty,
                      None if active is None else active[:, None], normaliser=size[:, None], state=warm,
                      iterations=iterations)
    residual = y[:, None] - fit.predict(x[:, None])
    mass = component_weights.sum(-1)
    variance = torch.maximum((component_weights * residual**2).sum(-1) / mass.clamp_min(1e-300), floor)
    share = mass / size.clamp_min(1e-300)[:, None]
    return Mixture(fit, variance, share, responsibility)


def _expect(mixture: Mixture, x, y) -> torch.Tensor:
    residual = y[:, None] - mixture.predictions(x)
    log_density = (mixture.share.clamp_min(1e-300).log() - 0.5 * mixture.variance.log())[..., None] \
        - residual**2 / (2 * mixture.variance[..., None])
    return torch.softmax(log_density, dim=1)


@register
class Lemna(MaskedExplainer):
    """LEMNA: a mixture of `n_components` linear regressions with a fused-lasso penalty (`fusion`),
    fitted by EM on each row's sampled neighbourhood (the same neighbourhood and kernel as `Lime`:
    `n_samples`, `kernel_width`, `coalitions`; removed features as the `masker` removes them).

    The explanation is the coefficients of the component that best explains the row itself (the
    most responsible for the unperturbed sample), as the paper does. `surrogate` holds per row the
    component's intercept, `r2` (weighted R^2 of the mixture, each sample predicted by its most
    responsible component), `r2_component` (the chosen component alone), `local_prediction`, its
    `share` of the neighbourhood and `n_samples`. With `n_components=1, fusion=0` it is LIME's
    weighted least squares. The penalty acts on adjacent features: meant for sequences.

    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([2.0, 2.0, 2.0, -1.0])
    >>> result = Lemna(model, masker=TabularMasker(fill=0.0), n_samples=100, fusion=1e-4).explain(np.ones((1, 4)))
    >>> np.round(result.values, 2).tolist()
    [[2.0, 2.0, 2.0, -1.0]]
    """

    info = MethodInfo(
        "lemna", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "mixture of fused-lasso linear regressions on a sampled neighbourhood", "Guo et al. 2018",
    )

    def __init__(self, model, masker: Masker | None = None, background: Any = None, n_samples: int = 500,
                 n_components: int = 3, fusion: float = 1e-3, n_iterations: int = 30, kernel_width: float | None = None,
                 coalitions: str = "count", show_progress: bool = False, seed: int | None = 0):
        super().__init__(model, masker, background, show_progress, seed)
        self.n_samples = check_positive_int(n_samples, "n_samples", minimum=2)
        self.n_components = check_positive_int(n_components, "n_components")
        self.fusion = check_positive_float(fusion, "fusion", allow_zero=True)
        self.n_iterations = check_positive_int(n_iterations, "n_iterations")
        self.kernel_width, self.coalitions = kernel_width, coalitions
        self.sampler = NeighbourhoodSampler(self.model, coalitions, kernel_width)

    def attribute_game(self, game: CoalitionGame):
        hood = self.sampler.draw(game, self.n_samples, torch_generator(self.seed))
        active = torch.arange(game.width)[None, :] < torch.as_tensor(np.asarray(game.features.counts))[:, None]
        mixture = fit_mixture(hood.representation, hood.scores, hood.weights, self.n_components, self.fusion,
                              self.n_iterations, active)
        rows = torch.arange(game.n_rows)
        best = mixture.responsibility[:, :, 0].argmax(1)  # the component of the row itself
        predictions = mixture.predictions(hood.representation)  # (rows, K, n)
        assigned = predictions.gather(1, mixture.responsibility.argmax(1, keepdim=True))[:, 0]
        chosen = predictions[rows, best]
        coef, intercept = mixture.fit.coef[rows, best], mixture.fit.intercept[rows, best]
        surrogate = {
            "intercept": intercept.tolist(),
            "r2": weighted_r2(hood.scores, assigned, hood.weights).tolist(),
            "r2_component": weighted_r2(hood.scores, chosen, hood.weights).tolist(),
            "local_prediction": chosen[:, 0].tolist(),
            "component": best.tolist(),
            "share": mixture.share[rows, best].tolist(),
            "n_samples": [self.n_samples] * game.n_rows,
            "kernel_width": self.sampler.width_for(game),
        }
        return coef, {"base": intercept, "surrogate": surrogate}
