"""Occlusion (Zeiler & Fergus, 2014): slide a patch of baseline values over the input, watch the score drop."""
from __future__ import annotations

import math
import numbers

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..targets import Target
from ..validation import broadcast_like, check_positive_int
from .base import AttributionExplainer


def _as_sizes(value, name: str) -> tuple[int, ...]:
    items = (value,) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        raise InputError(f"{name} must be an integer or a tuple of integers, got {value!r}") from None
    if not items:
        raise InputError(f"{name} must not be empty")
    return tuple(check_positive_int(item, f"every entry of {name}") for item in items)


def window_geometry(shape: tuple[int, ...], window, stride) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Full-length (window, stride) over the per-sample `shape`, checked; see `Occlusion` for the rules.

    >>> window_geometry((3, 32, 32), (4, 4), None)
    ((3, 4, 4), (3, 4, 4))
    >>> window_geometry((10,), 2, 1)
    ((2,), (1,))
    """
    dims = len(shape)
    if window is None:
        window = (1,) * dims
    if isinstance(window, numbers.Integral) and not isinstance(window, bool) and dims > 1:
        raise InputError(
            f"window={window} is ambiguous for inputs of shape {shape} per sample: give a tuple, e.g. "
            f"{(window, window)} for {window}x{window} patches across all channels, or {(1, window, window)} per channel"
        )
    window = _as_sizes(window, "window")
    if len(window) > dims:
        raise InputError(f"window {window} has {len(window)} dims but each sample has only {dims}: shape {shape}")
    lead = dims - len(window)
    if stride is None:
        stride = window
    stride = _as_sizes(stride, "stride")
    if len(stride) == 1 and len(window) > 1:
        stride = stride * len(window)
    if len(stride) != len(window):
        raise InputError(f"stride {stride} must have one entry per window dim, like window {window} (or be one integer)")
    window, stride = shape[:lead] + window, shape[:lead] + stride
    for size, w, s in zip(shape, window, stride):
        if w > size:
            raise InputError(f"window {window} is larger than the input: each sample has shape {shape}")
        if s > w and w < size:
            raise InputError(
                f"stride {stride} is larger than window {window} in some dim, which would leave features never "
                "occluded; use a stride no larger than the window"
            )
    return window, stride


@register
class Occlusion(AttributionExplainer):
    """Occlusion: attribution = mean, over the windows covering a feature, of f(x) - f(x occluded).

    A window (hyper-rectangle) of `baseline` values slides over every sample from the corner at
    index 0 in steps of `stride`; the last window along a dim is cut at the border. This is
    exactly Captum's `Occlusion` (with `stride` defaulting to the window instead of 1). Needs
    only black-box access (scores), so it works on any callable or scikit-learn model.

    - `window`: sizes over the trailing per-sample dims; dims left out at the front are covered
      whole. For images (C, H, W), `(4, 4)` occludes 4x4 patches across all channels and
      `(1, 4, 4)` one channel at a time. An integer is allowed for 1-d samples (tabular).
      Default None: one feature at a time.
    - `stride`: steps, same convention (an integer applies to every window dim); default: the
      window (non-overlapping patches). Must not exceed the window where the window is smaller
      than the input, so that every feature is occluded at least once.
    - `baseline`: the fill value: a number, or a tensor broadcastable to one sample (or to the
      inputs).
    - `show_progress`: a tqdm bar over the chunks of model evaluations.

    Every (sample, window) pair is one model evaluation; pairs are built and evaluated chunk by
    chunk under the adapter's memory budget. Attributions have the inputs' shape.

    >>> import torch
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> x = torch.tensor([[1.0, 2.0, 3.0]])
    >>> values = Occlusion(model, window=1).explain(x, target=0).values
    >>> bool(torch.allclose(torch.tensor(values), x * model.weight))
    True
    """

    info = MethodInfo(
        "occlusion", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "score drop when a sliding patch is replaced by a baseline", "Zeiler & Fergus 2014",
    )

    def __init__(self, model, window=None, stride=None, baseline=0.0, show_progress: bool = False):
        super().__init__(model)
        self.window, self.stride, self.baseline, self.show_progress = window, stride, baseline, show_progress

    def settings(self):
        settings = super().settings()
        if not isinstance(self.baseline, numbers.Real):
            settings["baseline"] = f"tensor of shape {tuple(getattr(self.baseline, 'shape', ()))}"
        return settings

    def attribute(self, inputs: torch.Tensor, target: Target):
        shape = tuple(inputs.shape[1:])
        window, stride = window_geometry(shape, self.window, self.stride)
        baseline = broadcast_like(self.baseline, inputs, "baseline")
        device = inputs.device
        # covers[d][i, j]: window position i along dim d covers index j.
        covers = []
        for size, w, s in zip(shape, window, stride):
            starts = torch.arange(math.ceil((size - w) / s) + 1, device=device)[:, None] * s
            index = torch.arange(size, device=device)[None, :]
            covers.append((index >= starts) & (index < starts + w))
        counts = [c.shape[0] for c in covers]
        n_windows, n = math.prod(counts), len(inputs)
        # How many windows cover each feature: the outer product of the per-dim coverage counts.
        coverage = torch.ones((), dtype=inputs.dtype, device=device)
        for d, c in enumerate(covers):
            coverage = coverage[..., None] * c.sum(dim=0).to(inputs.dtype).view(*([1] * d), -1)

        scores = self.model.scores(inputs, target)
        total = torch.zeros_like(inputs)
        size = self.model.chunk_size(inputs)
        firsts = range(0, n * n_windows, size)
        for first in tqdm(firsts, desc="occlusion", unit="chunk", disable=not self.show_progress):
            pairs = torch.arange(first, min(first + size, n * n_windows), device=device)
            sample, place = pairs // n_windows, pairs % n_windows
            mask = self._masks(place, covers, counts)
            occluded = torch.where(mask, baseline[sample], inputs[sample])
            drop = scores[sample] - self.model.scores(occluded, target.take(sample.cpu()))
            total.index_add_(0, sample, mask * drop.to(total).view(-1, *([1] * len(shape))))
        return total / coverage, {"scores": scores}

    @staticmethod
    def _masks(place: torch.Tensor, covers: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
        """Boolean masks (m, *shape) of the windows numbered `place` (last dim varying fastest)."""
        mask = None
        rest = place
        dims = len(covers)
        for d in reversed(range(dims)):
            along = covers[d][rest % counts[d]].view(-1, *([1] * d), covers[d].shape[1], *([1] * (dims - d - 1)))
            mask = along if mask is None else mask & along
            rest = rest // counts[d]
        return mask
