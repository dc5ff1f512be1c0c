"""Noisy linear imputation (Rong et al. 2022): removed pixels are filled from their neighbours, so
that the filled image does not show where pixels were removed.

Each removed pixel takes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones,
1/12 for the diagonal ones; neighbours outside the image are left out and the rest renormalised),
where removed neighbours are unknowns too: one sparse linear system whose known pixels are the
boundary condition. The systems of all images are blocks of one block-diagonal matrix, solved in
one sparse factorisation for every channel at once; then Gaussian noise is added to the filled
pixels.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

from ..errors import InputError

NEIGHBOURS = ((-1, -1, 1 / 12), (-1, 0, 1 / 6), (-1, 1, 1 / 12), (0, -1, 1 / 6),
              (0, 1, 1 / 6), (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))


# Unknowns are numbered image by image, row by row: each block is banded (bandwidth = image width).
# For narrow images the natural order keeps the fill-in inside that band and factorises ~1.5x faster
# than COLAMD (576 digits 32 x 32); for wide ones (224 x 224) COLAMD is ~1.5x faster.
NATURAL_ORDER_MAX_WIDTH = 64


def ordering(width: int) -> str:
    """SuperLU's column ordering for images `width` pixels wide.

    >>> ordering(32), ordering(224)
    ('NATURAL', 'COLAMD')
    """
    return "NATURAL" if width <= NATURAL_ORDER_MAX_WIDTH else "COLAMD"


def linear_imputation(images: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """`images` (m, C, H, W) with the pixels where `removed` (m, H, W) is True filled by solving
    the neighbour-mean equations (no noise). Float64 throughout; returned in the images' dtype.

    >>> image = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]])
    >>> centre = torch.zeros(1, 3, 3, dtype=torch.bool); centre[0, 1, 1] = True
    >>> float(linear_imputation(image, centre)[0, 0, 1, 1])
    0.0
    """
    m, channels, height, width = images.shape
    if removed.shape != (m, height, width):
        raise InputError(f"removed pixels must be (images, H, W) = {(m, height, width)}; got {tuple(removed.shape)}")
    pixels = images.detach().permute(0, 2, 3, 1).reshape(-1, channels).cpu().double().numpy()  # (m*H*W, C)
    gone = removed.reshape(-1).cpu().numpy()
    unknown = np.flatnonzero(gone)
    if len(unknown) == 0:
        return images.clone()
    variable = np.full(gone.shape, -1)
    variable[unknown] = np.arange(len(unknown))
    image_of, rest = np.divmod(unknown, height * width)
    row, col = np.divmod(rest, width)
    diagonal = np.zeros(len(unknown))
    rhs = np.zeros((len(unknown), channels))
    coupled_rows, coupled_cols, coupled_weights = [], [], []
    for d_row, d_col, weight in NEIGHBOURS:  # 8 offsets, each vectorised over every removed pixel
        r, c = row + d_row, col + d_col
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        index = np.flatnonzero(inside)
        neighbour = image_of[index] * height * width + r[index] * width + c[index]
        diagonal[index] += weight
        known = ~gone[neighbour]
        rhs[index[known]] += weight * pixels[neighbour[known]]
        coupled_rows.append(index[~known])
        coupled_cols.append(variable[neighbour[~known]])
        coupled_weights.append(np.full((~known).sum(), -weight))
    rows = np.concatenate([np.arange(len(unknown)), *coupled_rows])
    cols = np.concatenate([np.arange(len(unknown)), *coupled_cols])
    data = np.concatenate([diagonal, *coupled_weights])
    system = coo_matrix((data, (rows, cols)), shape=(len(unknown), len(unknown))).tocsc()
    solution = splu(system, permc_spec=ordering(width)).solve(rhs)
    filled = pixels.copy()
    filled[unknown] = solution
    filled = torch.as_tensor(filled, dtype=images.dtype, device=images.device)
    return filled.view(m, height, width, channels).permute(0, 3, 1, 2).contiguous()


def noisy_linear_imputation(images: torch.Tensor, removed: torch.Tensor, noise: float,
                            generator: torch.Generator) -> torch.Tensor:
    """`linear_imputation` plus Gaussian noise of standard deviation `noise` on the filled pixels
    (every channel), drawn from `generator`.

    >>> from unboxed.random import torch_generator
    >>> image = torch.ones(1, 1, 4, 4)
    >>> out = noisy_linear_imputation(image, torch.eye(4, dtype=torch.bool)[None], 0.01, torch_generator(0))
    >>> bool(((out - 1).abs() < 0.05).all()), bool((out[0, 0, 0, 1] == 1).item())
    (True, True)
    """
    filled = linear_imputation(images, removed)
    draws = torch.randn(images.shape, generator=generator).to(device=images.device, dtype=images.dtype)
    return filled.addcmul_(removed[:, None].to(images.device, images.dtype), draws, value=noise)  # noise only where removed
