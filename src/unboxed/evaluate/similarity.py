"""How alike two attribution maps are, row by row: Spearman rank correlation, SSIM, top-k overlap.

Every function takes two batches of maps (n, ...) of the same shape (tensors or arrays) and
returns one similarity per row, a float64 tensor (n,). Spearman and top-k overlap run on the
whole batch at once; SSIM calls scikit-image once per row (pure array work, no model calls).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ..errors import InputError

MEASURES = ("spearman", "ssim", "top_k")


def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Both batches as float64 CPU tensors (n, features), after checking that they match."""
    a, b = (torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x for x in (a, b))
    if a.shape != b.shape:
        raise InputError(f"maps to compare must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim < 2 or a[0].numel() < 2:
        raise InputError(f"maps must be a batch (n, ...) of at least 2 values each; got shape {tuple(a.shape)}")
    a, b = (x.detach().cpu().double().reshape(len(x), -1) for x in (a, b))
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise InputError("maps to compare contain NaN or infinite values")
    return a, b


def rank_rows(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..d within every row of (n, d), ties sharing their average rank (as scipy's rankdata).

    >>> rank_rows(torch.tensor([[0.5, 0.1, 0.5, 0.9]])).tolist()
    [[2.5, 1.0, 2.5, 4.0]]
    """
    n, d = values.shape
    flat = values.detach().cpu().double().numpy()
    order = np.argsort(flat, axis=1)  # any order within ties: tied values share their mean rank below
    ordered = np.take_along_axis(flat, order, axis=1)
    starts = np.ones((n, d), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    # one id per (row, run of equal values): each run gets the mean of the positions it spans
    group = (np.cumsum(starts, axis=1) - 1 + np.arange(n)[:, None] * d).ravel()
    position = np.tile(np.arange(1, d + 1, dtype=np.float64), n)
    mean_rank = (np.bincount(group, position, minlength=n * d)[group] / np.bincount(group, minlength=n * d)[group]).reshape(n, d)
    ranks = np.empty_like(mean_rank)
    np.put_along_axis(ranks, order, mean_rank, axis=1)
    return torch.from_numpy(ranks)


def spearman(a: Any, b: Any) -> torch.Tensor:
    """Spearman rank correlation of every row of `a` with the same row of `b`, (n,).

    Ties get average ranks (as `scipy.stats.spearmanr`). A constant map has no ranking to share,
    so its correlation is 0 (scipy returns NaN).

    >>> spearman([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[10.0, 20.0, 30.0], [3.0, 2.0, 1.0]]).round(decimals=9).tolist()
    [1.0, -1.0]
    """
    a, b = _pair(a, b)
    ra, rb = rank_rows(a), rank_rows(b)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    norms = ra.norm(dim=1) * rb.norm(dim=1)
    return torch.where(norms > 0, (ra * rb).sum(1) / norms.clamp_min(1e-300), torch.zeros_like(norms))


def _unit_range(maps: torch.Tensor) -> torch.Tensor:
    """Every row scaled to [0, 1] by its own minimum and maximum (a constant row becomes zeros)."""
    low, high = maps.aminmax(dim=1, keepdim=True)
    span = high - low
    return torch.where(span > 0, (maps - low) / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))


def ssim(a: Any, b: Any, win_size: int = 7) -> torch.Tensor:
    """Structural similarity of every map of `a` with the same map of `b`, (n,), all maps at once.

    The same numbers as scikit-image's `structural_similarity` with its defaults (a uniform
    `win_size` window, sample covariances, K1 = 0.01, K2 = 0.03, the border of half a window left
    out of the mean), computed for the whole batch with average pooling. Each map is first scaled
    to [0, 1] by its own minimum and maximum (SSIM then compares structure, not the size of the
    values; a constant map becomes all zeros), and `data_range=1`. Dimensions of size 1 are
    dropped, so (n, 1, H, W) compares (H, W) images; maps with several channels should be reduced
    first (the randomisation metrics sum |a| over them). `win_size` is shrunk to the largest odd
    size that fits the smallest dimension.

    >>> maps = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim(maps, maps).tolist(), bool(ssim(maps, maps.flip(0))[0] < 0.5)
    ([1.0, 1.0], True)
    """
    shape = tuple(np.shape(a))
    a, b = _pair(a, b)
    spatial = tuple(size for size in shape[1:] if size > 1) or (1,)
    window = min(int(win_size), min(spatial) - (min(spatial) + 1) % 2)
    if window < 3:
        raise InputError(f"SSIM needs maps at least 3 wide in every dimension; got maps of shape {shape[1:]}")
    if len(spatial) > 3:
        raise InputError(f"SSIM compares 1-, 2- or 3-dimensional maps; got maps of shape {shape[1:]}")
    pool = (torch.nn.functional.avg_pool1d, torch.nn.functional.avg_pool2d, torch.nn.functional.avg_pool3d)[len(spatial) - 1]
    x, y = (_unit_range(m).view(len(m), 1, *spatial) for m in (a, b))
    # "valid" windows only: exactly the region scikit-image keeps after cropping its border
    mean = lambda t: pool(t, window, stride=1)  # noqa: E731
    mx, my = mean(x), mean(y)
    norm = window ** len(spatial) / (window ** len(spatial) - 1)  # sample covariance
    vx, vy = norm * (mean(x * x) - mx * mx), norm * (mean(y * y) - my * my)
    vxy = norm * (mean(x * y) - mx * my)
    c1, c2 = 0.01**2, 0.03**2
    index = (2 * mx * my + c1) * (2 * vxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return index.flatten(1).mean(1)


def top_k_count(k: int | float, n_features: int) -> int:
    """k as a count of features: an int is taken as is, a float in (0, 1) as a fraction (at least 1).

    >>> top_k_count(0.1, 1024), top_k_count(5, 1024)
    (102, 5)
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Real):
        raise InputError(f"k must be a count of features or a fraction in (0, 1); got {k!r}")
    if not isinstance(k, numbers.Integral):
        if not 0 < k < 1:
            raise InputError(f"k as a fraction must lie in (0, 1); got {k}")
        return max(1, int(k * n_features))
    if not 1 <= k <= n_features:
        raise InputError(f"k must be between 1 and the number of features ({n_features}); got {k}")
    return int(k)


def top_k_masks(values: Any, k: int | float) -> torch.Tensor:
    """Boolean (n, d) marks of each row's k largest values (ties broken by position, lowest first).

    >>> top_k_masks(torch.tensor([[0.1, 0.9, 0.5, 0.5]]), 2).tolist()
    [[False, True, True, False]]
    """
    values = torch.as_tensor(values)
    flat = values.detach().cpu().double().reshape(len(values), -1).numpy()
    count = top_k_count(k, flat.shape[1])
    # a partition finds each row's k-th largest value in linear time; ties with it fill the rest in order
    kth = np.partition(flat, flat.shape[1] - count, axis=1)[:, flat.shape[1] - count, None]
    above, tied = flat > kth, flat == kth
    needed = count - above.sum(1, keepdims=True)
    masks = above | (tied & (np.cumsum(tied, axis=1) <= needed))
    return torch.from_numpy(masks).to(values.device)


def top_k_overlap(a: Any, b: Any, k: int | float = 0.1) -> torch.Tensor:
    """Fraction of the k largest features of each row of `a` that are also among the k largest
    of `b`'s row, (n,): 1 when the top-k sets agree, about k/d for unrelated maps.

    >>> top_k_overlap([[0.1, 0.9, 0.5, 0.2]], [[0.8, 0.9, 0.1, 0.2]], k=2).tolist()
    [0.5]
    """
    a, b = _pair(a, b)
    count = top_k_count(k, a.shape[1])
    return (top_k_masks(a, count) & top_k_masks(b, count)).sum(1).double() / count


def compare_maps(a: Any, b: Any, k: int | float = 0.1) -> dict[str, torch.Tensor]:
    """All three similarities of every row pair: {"spearman", "ssim", "top_k"} -> (n,).

    >>> maps = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> {name: [round(v, 6) for v in values.tolist()] for name, values in compare_maps(maps, maps).items()}
    {'spearman': [1.0, 1.0, 1.0], 'ssim': [1.0, 1.0, 1.0], 'top_k': [1.0, 1.0, 1.0]}
    """
    return {"spearman": spearman(a, b), "ssim": ssim(a, b), "top_k": top_k_overlap(a, b, k)}
