"""Weighted linear surrogates for many rows at once (LIME, LEMNA): one batched solve, no loop over rows.

Shapes: samples `x` (..., n, p), targets `y` (..., n), sample weights (..., n); the leading dims are
rows (and, for LEMNA, mixture components). `active` (..., p) marks the real features of each row:
padding features (a shorter text, an image with fewer superpixels) get a zero coefficient.
The intercept is never penalised; weights are not normalised, as in scikit-learn's Ridge.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LinearFit:
    """Coefficients (..., p) and intercepts (...) of linear models, one per row (and component)."""

    coef: torch.Tensor
    intercept: torch.Tensor

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (..., n) for samples `x` (..., n, p).

        >>> fit = LinearFit(torch.tensor([[2.0, 0.0]]), torch.tensor([1.0]))
        >>> fit.predict(torch.tensor([[[1.0, 5.0], [0.0, 0.0]]])).tolist()
        [[3.0, 1.0]]
        """
        return self.intercept[..., None] + (x @ self.coef[..., None])[..., 0]


@dataclass
class WeightedGram:
    """The weighted, centred normal equations of a least-squares problem: gram @ coef = moment
    (see `weighted_gram`); `intercept(coef)` is the intercept that goes with coefficients, `r2(coef)`
    their weighted R^2 on the same samples."""

    gram: torch.Tensor  # (..., p, p): xc' W xc
    moment: torch.Tensor  # (..., p): xc' W yc
    x_mean: torch.Tensor  # (..., p) weighted means, to recover the intercept
    y_mean: torch.Tensor  # (...)
    y_spread: torch.Tensor  # (...): yc' W yc

    def intercept(self, coef: torch.Tensor) -> torch.Tensor:
        return self.y_mean - (self.x_mean * coef).sum(-1)

    def r2(self, coef: torch.Tensor) -> torch.Tensor:
        """Weighted R^2 of the linear model `coef` (with its intercept), as `weighted_r2` of its
        predictions: the residual sum is yc'Wyc - 2 coef.moment + coef'gram coef, so no sample is read."""
        fitted = (coef[..., None, :] @ self.gram @ coef[..., :, None])[..., 0, 0]
        residual = (self.y_spread - 2 * (coef * self.moment).sum(-1) + fitted).clamp_min(0.0)
        exact = residual <= 1e-30 * self.y_spread.abs().clamp_min(1.0)
        return torch.where(self.y_spread > 0, 1 - residual / self.y_spread.clamp_min(1e-300), exact.to(coef.dtype))


def weighted_gram(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> WeightedGram:
    """Centre `x` and `y` on their weighted means and form the weighted normal equations.

    Centring is applied to the products (x'Wx - total mean mean'), not to a copy of `x`: one pass
    over the samples, which are most of a batched LIME's memory.

    >>> g = weighted_gram(torch.tensor([[[0.0], [2.0]]]), torch.tensor([[1.0, 5.0]]), torch.tensor([[1.0, 1.0]]))
    >>> g.gram.tolist(), g.moment.tolist(), g.y_mean.tolist(), g.y_spread.tolist()
    ([[[2.0]]], [[4.0]], [3.0], [8.0])
    """
    total = weights.sum(-1).clamp_min(torch.finfo(weights.dtype).tiny)
    weighted = x * weights[..., None]
    weighted_y = weights * y
    x_mean = weighted.sum(-2) / total[..., None]
    y_mean = weighted_y.sum(-1) / total
    gram = weighted.transpose(-1, -2) @ x - total[..., None, None] * x_mean[..., :, None] * x_mean[..., None, :]
    moment = (weighted_y[..., None, :] @ x)[..., 0, :] - total[..., None] * x_mean * y_mean[..., None]
    y_spread = (weights * (y - y_mean[..., None]) ** 2).sum(-1)
    return WeightedGram(gram, moment, x_mean, y_mean, y_spread)


def solve_gram(gram: WeightedGram, alpha: float = 1.0, active: torch.Tensor | None = None) -> LinearFit:
    """Ridge (alpha > 0) or least squares (alpha = 0) from the normal equations; inactive features get 0.

    Least squares may be rank deficient (fewer distinct samples than features): it then returns the
    minimum-norm solution, as numpy's lstsq does.

    >>> gram = weighted_gram(torch.tensor([[[0.0], [2.0]]]), torch.tensor([[1.0, 5.0]]), torch.ones(1, 2))
    >>> fit = solve_gram(gram, alpha=2.0)  # ridge: coef = 4 / (2 + 2)
    >>> fit.coef.tolist(), fit.intercept.tolist()
    ([[1.0]], [2.0])
    """
    matrix = gram.gram + alpha * torch.eye(gram.gram.shape[-1], dtype=gram.gram.dtype, device=gram.gram.device)
    moment = gram.moment
    if active is not None:
        inactive = ~active.expand(moment.shape)
        # an inactive feature's row and column are cleared and its diagonal set to 1: its coefficient is 0
        matrix = matrix.masked_fill(inactive[..., None, :] | inactive[..., :, None], 0.0)
        matrix = matrix + torch.diag_embed(inactive.to(matrix.dtype))
        moment = moment.masked_fill(inactive, 0.0)
    if alpha > 0:
        coef = torch.linalg.solve(matrix, moment)
    else:
        scale = matrix.diagonal(dim1=-2, dim2=-1).abs().amax(-1, keepdim=True).clamp_min(1e-300)[..., None]
        coef = (torch.linalg.pinv(matrix / scale, hermitian=True, rtol=1e-10) @ (moment[..., None] / scale))[..., 0]
    return LinearFit(coef, gram.intercept(coef))


def weighted_ridge(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float = 1.0,
                   active: torch.Tensor | None = None) -> LinearFit:
    """min sum_i w_i (y_i - b - x_i . coef)^2 + alpha |coef|^2 for every row at once (scikit-learn's Ridge
    with `sample_weight`, fit_intercept=True; alpha=0 is weighted least squares).

    >>> x = torch.tensor([[[0.0], [1.0], [2.0]]], dtype=torch.float64)
    >>> fit = weighted_ridge(x, 3 * x[..., 0] + 1, torch.ones(1, 3, dtype=torch.float64), alpha=0.0)
    >>> [round(v, 6) for v in (fit.coef.item(), fit.intercept.item())]
    [3.0, 1.0]
    """
    return solve_gram(weighted_gram(x, y, weights), alpha, active)


def weighted_r2(y: torch.Tensor, prediction: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted R^2 per row (scikit-learn's `score` with sample_weight): 1 - SS_res / SS_tot.

    A constant target gives 1 when it is predicted exactly and 0 otherwise, as scikit-learn does.

    >>> weighted_r2(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 4.0]]), torch.ones(1, 3)).tolist()
    [0.5]
    """
    total = weights.sum(-1).clamp_min(torch.finfo(weights.dtype).tiny)
    mean = (weights * y).sum(-1, keepdim=True) / total[..., None]
    residual = (weights * (y - prediction) ** 2).sum(-1)
    spread = (weights * (y - mean) ** 2).sum(-1)
    exact = residual <= 1e-30
    return torch.where(spread > 0, 1 - residual / spread.clamp_min(1e-300), exact.to(y.dtype))


def top_k(importance: torch.Tensor, k: int, active: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask (..., p) of the k features of largest |importance| among the active ones.

    >>> top_k(torch.tensor([[0.1, -3.0, 2.0]]), 2).tolist()
    [[False, True, True]]
    """
    magnitude = importance.abs()
    if active is not None:
        magnitude = magnitude.masked_fill(~active, -1.0)  # never picked before a real feature
    k = min(int(k), importance.shape[-1])
    chosen = torch.zeros_like(importance, dtype=torch.bool)
    chosen.scatter_(-1, magnitude.topk(k, dim=-1).indices, True)
    return chosen if active is None else chosen & active


def fit_surrogate(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float = 1.0,
                  n_features: int | None = None, active: torch.Tensor | None = None,
                  selection_alpha: float = 0.01) -> tuple[LinearFit, torch.Tensor, WeightedGram]:
    """LIME's local model: weighted ridge, optionally on the `n_features` "highest weights" only.

    Selection ranks features by |coef * x_0| of a ridge fit with `selection_alpha` on all of them
    (x_0 is the first sample, the explained row itself), then refits on the chosen ones.
    Returns the fit, the mask of the features used, and the normal equations (`gram.r2(fit.coef)`
    is the fit's weighted R^2).

    >>> x = torch.tensor([[[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    >>> fit, used, gram = fit_surrogate(x, 2 * x[..., 0], torch.ones(1, 4, dtype=torch.float64), 0.0, n_features=1)
    >>> used.tolist(), [round(v, 6) for v in fit.coef[0].tolist()], [round(v, 6) for v in gram.r2(fit.coef).tolist()]
    ([[True, False]], [2.0, 0.0], [1.0])
    """
    used = torch.ones(x.shape[:-2] + x.shape[-1:], dtype=torch.bool, device=x.device) if active is None else active
    gram = weighted_gram(x, y, weights)
    if n_features is not None and n_features < x.shape[-1]:
        first = solve_gram(gram, selection_alpha, used)
        used = top_k(first.coef * x[..., 0, :], n_features, used)
    return solve_gram(gram, alpha, used), used, gram
