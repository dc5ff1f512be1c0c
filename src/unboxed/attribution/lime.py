"""LIME (Ribeiro et al. 2016): a weighted linear model fitted on a sampled neighbourhood of each row.

The neighbourhood of images and text (and of any masker's features) is coalitions: for each sample,
how many features to switch off is drawn uniformly, then which ones, as the `lime` package does for
text; the first sample is the row itself. Tables (a background data set and no masker) get
lime_tabular's neighbourhood, drawn from the background's statistics (`LimeTabularMasker`).
Every row is sampled, evaluated and fitted together: big batched model calls, one batched solve.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..maskers import Features, Masker
from ..random import torch_generator
from ..targets import Target
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import as_tensor, check_choice, check_positive_float, check_positive_int
from .coalitions import CoalitionGame
from .masked import MaskedExplainer
from .surrogate import fit_surrogate, top_k

DISCRETIZERS = ("quartile", "decile", "entropy")
COALITIONS = ("count", "bernoulli")
# lime's kernel widths and distances per kind of features: (distance, width, distance scale)
KERNELS = {"image": ("cosine", 0.25, 1.0), "text": ("cosine", 25.0, 100.0)}


def kernel_weights(distances: torch.Tensor, width: float) -> torch.Tensor:
    """lime's exponential kernel sqrt(exp(-d^2 / width^2)).

    >>> kernel_weights(torch.tensor([0.0, 2.0], dtype=torch.float64), 2.0).tolist() == [1.0, math.exp(-0.5)]
    True
    """
    return torch.exp(-(distances**2) / width**2).sqrt()


def default_kernel(kind: str, width: int) -> tuple[str, float, float]:
    """(distance, kernel width, distance scale) lime uses for `width` features of this kind.

    >>> default_kernel("text", 7), default_kernel("tabular", 16)
    (('cosine', 25.0, 100.0), ('euclidean', 3.0, 1.0))
    """
    return KERNELS.get(kind, ("euclidean", 0.75 * math.sqrt(width), 1.0))


@dataclass
class Neighbourhood:
    """Samples around every row: interpretable `representation` (rows, n, width) in float64,
    the model's `scores` (rows, n) and kernel `weights` (rows, n). The first sample is the row itself.
    Samples a row did not draw (it had stopped, see `Lime.until_stable`) have weight 0.
    Adding two neighbourhoods puts their samples side by side.

    >>> one = Neighbourhood(torch.ones(2, 3, 4), torch.zeros(2, 3), torch.ones(2, 3))
    >>> (one + one).representation.shape
    torch.Size([2, 6, 4])
    """

    representation: torch.Tensor
    scores: torch.Tensor
    weights: torch.Tensor

    def __add__(self, other: "Neighbourhood") -> "Neighbourhood":
        return Neighbourhood(*(torch.cat([a, b], 1) for a, b in zip(
            (self.representation, self.scores, self.weights), (other.representation, other.scores, other.weights))))


def draw_coalitions(counts: torch.Tensor, n: int, width: int, generator: torch.Generator, scheme: str = "count",
                    include_row: bool = True) -> torch.Tensor:
    """Keep masks (rows, n, width): "count" removes k ~ U{1..count} features chosen uniformly (lime text),
    "bernoulli" removes each feature with probability 1/2 (lime image). Padding features are kept.

    >>> keep = draw_coalitions(torch.tensor([3]), 4, 3, torch_generator(0))
    >>> keep[0, 0].tolist(), bool((keep[0, 1:].sum(1) <= 2).all())
    ([True, True, True], True)
    """
    real = torch.arange(width)[None, :] < counts[:, None]  # (rows, width)
    how_many = torch.rand(len(counts), n, generator=generator)
    order = torch.rand(len(counts), n, width, generator=generator)
    if scheme == "count":
        removed_count = (how_many * counts[:, None]).floor().long().clamp_max(counts[:, None] - 1) + 1
        order = order.masked_fill(~real[:, None, :], 2.0)  # padding ranks last, never among the removed
        rank = order.argsort(-1).argsort(-1)
        removed = rank < removed_count[..., None]
    else:
        removed = (order < 0.5) & real[:, None, :]
    if include_row:
        removed[:, 0] = False
    return ~removed


class LimeTabularMasker(Masker):
    """lime_tabular's neighbourhood of table rows, from the statistics of `training_data`.

    With `discretize_continuous` (default) every column is cut into bins ("quartile", "decile", or
    "entropy": a depth-3 decision tree on `training_labels`); a sample draws a bin per column with
    the training frequencies and a value in it (a truncated normal with the bin's mean and spread),
    and its interpretable feature is 1 when the bin is the row's. Otherwise columns are drawn from
    N(mean, std) (or N(x, std) with `sample_around_instance`) and the interpretable features are
    the values standardised. `categorical_features` (column indices) draw training values with
    their frequencies: 1 when equal to the row's. Distances are euclidean on the interpretable
    features. `mask` is not defined: these samples are not coalitions of the row.

    >>> masker = LimeTabularMasker(np.arange(40.0).reshape(20, 2))
    >>> x = masker.check(np.array([[1.0, 2.0]]))
    >>> representation, inputs, distances = masker.sample(x, 3, torch_generator(0))
    >>> representation.shape, inputs[0, 0].tolist(), distances[0, 0].item()
    (torch.Size([1, 3, 2]), [1.0, 2.0], 0.0)
    """

    kind = "tabular"

    def __init__(self, training_data: Any, discretize_continuous: bool = True, discretizer: str = "quartile",
                 sample_around_instance: bool = False, categorical_features: Sequence[int] = (),
                 training_labels: Any = None, feature_names: Sequence[str] | None = None, seed: int | None = 0):
        data = as_tensor(training_data, "training data (background)").double()
        if data.ndim != 2:
            raise InputError(f"LIME's training data (background) must be a table (rows, columns); got {tuple(data.shape)}")
        if discretize_continuous:
            check_choice(discretizer, "discretizer", DISCRETIZERS)
        if discretize_continuous and discretizer == "entropy" and training_labels is None:
            raise InputError("discretizer='entropy' needs training_labels (one label per training row)")
        self.categorical = sorted({int(c) for c in categorical_features})
        if any(not 0 <= c < data.shape[1] for c in self.categorical):
            raise InputError(f"categorical_features must be column indices 0..{data.shape[1] - 1}; got {self.categorical}")
        self.discretize, self.discretizer = bool(discretize_continuous), discretizer
        self.around_instance = bool(sample_around_instance)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.mean = data.mean(0)
        std = data.std(0, unbiased=False)
        self.scale = torch.where(std > 0, std, torch.ones_like(std))  # scikit-learn's StandardScaler
        labels = None if training_labels is None else np.asarray(training_labels)
        self.binned = torch.tensor([self.discretize or j in self.categorical for j in range(data.shape[1])])
        self.bins = _bin_table(data.numpy(), self.categorical if not self.discretize else list(range(data.shape[1])),
                               set(self.categorical), discretizer, labels, seed)
        self.n_rows = len(data)

    def check(self, inputs: Any) -> torch.Tensor:
        tensor = as_tensor(inputs, "inputs")
        if tensor.ndim != 2 or tensor.shape[1] != len(self.mean):
            raise InputError(f"inputs must be rows of {len(self.mean)} columns like LIME's training data; got {tuple(tensor.shape)}")
        return tensor

    def features(self, inputs: torch.Tensor) -> Features:
        columns = inputs.shape[1]
        names = self.feature_names or [f"x{j}" for j in range(columns)]
        segments = torch.arange(columns, device=inputs.device).expand(len(inputs), columns)
        return Features(counts=np.full(len(inputs), columns), names=names, segments=segments)

    def mask(self, inputs, features, rows, keep, out=None):
        raise InputError("LimeTabularMasker draws lime's neighbourhood (Lime, Lemna): it cannot remove features for other methods")

    @property
    def shareable(self) -> bool:
        """Whether the samples do not depend on the row (not drawn around it), so rows can share them."""
        return not self.around_instance or bool(self.binned.all())

    def sample(self, inputs: torch.Tensor, n: int, generator: torch.Generator, include_row: bool = True,
               shared: bool = False):
        """(representation (rows, n, d) float64, model inputs (rows, n, d), distances (rows, n)).

        `shared` (only where `shareable`): one set of samples for all rows, model inputs (1, n, d)
        whose first sample is left to the caller (it is each row itself)."""
        if shared and not self.shareable:
            raise InputError("samples drawn around each row (sample_around_instance) cannot be shared between rows")
        x = inputs.detach().cpu().double()
        rows, columns = x.shape
        shape, bins = (1 if shared else rows, n, columns), self.bins
        values = representation = torch.zeros(shape, dtype=torch.float64)
        if bool(self.binned.any()):
            # float32 draws: the values go to the model in its own precision, and millions of
            # float64 temporaries cost twice the memory traffic for nothing
            uniform = torch.rand(shape, generator=generator)
            drawn = bins.draw(uniform)  # (rows or 1, n, d)
            # the same number places the value in its bin; kept in the inputs' precision (the row goes in exactly)
            values = bins.value(drawn, uniform).to(inputs.dtype)
            # 1.0 where the bin is the row's (index -1: an unseen categorical value), written as float64 at once
            representation = torch.eq(drawn, bins.index(x)[:, None, :], out=torch.empty((rows, n, columns), dtype=torch.float64))
        if not bool(self.binned.all()):
            centre = x[:, None, :] if self.around_instance else self.mean
            continuous = torch.randn(shape, generator=generator, dtype=torch.float64) * self.scale + centre
            values = torch.where(self.binned, values, continuous)
            representation = torch.where(self.binned, representation, (continuous - self.mean) / self.scale)
        representation = representation.expand(rows, n, columns).clone() if len(representation) < rows else representation
        row_representation = torch.where(self.binned, torch.ones_like(x), (x - self.mean) / self.scale)
        if include_row:
            representation[:, 0] = row_representation
            if not shared:
                values[:, 0] = x
        if bool(self.binned.all()):  # 0/1 features against the row's ones: the root of the mismatch count
            distances = (columns - representation.sum(-1)).clamp_min_(0.0).sqrt_()
        else:
            distances = (representation - row_representation[:, None, :]).norm(dim=-1)
        return representation, values.to(inputs.device, inputs.dtype), distances

    def describe(self) -> dict[str, Any]:
        return {"masker": "lime_tabular", "discretizer": self.discretizer if self.discretize else None,
                "sample_around_instance": self.around_instance, "categorical": self.categorical,
                "training_rows": self.n_rows}


@dataclass
class _Bins:
    """Per column, padded to the most bins: upper thresholds, cumulative draw frequencies, and per
    bin what drawing a value inside it needs (categorical bins are single values)."""

    thresholds: torch.Tensor  # (d, B-1), +inf padded
    cumulative: torch.Tensor  # (d, B), 2.0 past the last bin
    n_bins: torch.Tensor  # (d,)
    low: torch.Tensor  # (d, B) lower end of each bin (a categorical bin's value)
    truncated: torch.Tensor  # (d, B, 6): cdf offset and slope (see `value`), mean, signed std, low, high
    exact: torch.Tensor  # (d,) categorical: the value must match a bin's exactly

    def index(self, values: torch.Tensor) -> torch.Tensor:
        """Bin of each value (..., d): how many thresholds lie below it (numpy's searchsorted)."""
        index = (values[..., None] > self.thresholds).sum(-1)
        found = self.low.expand(*values.shape, -1).gather(-1, index[..., None])[..., 0] == values
        return torch.where(self.exact & ~found, -1, index)

    def draw(self, uniform: torch.Tensor) -> torch.Tensor:
        """Bins (..., d) drawn with the training frequencies, from uniform numbers (..., d): how many
        cumulative frequencies the number reaches (few bins: one comparison per bin edge)."""
        thresholds = self.cumulative[:, :-1].to(uniform.dtype)  # padded with 2.0, never reached
        drawn = torch.zeros(uniform.shape, dtype=torch.uint8)
        for edge in thresholds.T:
            drawn += uniform >= edge
        return drawn

    def value(self, bins: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """A value inside each drawn bin: its truncated normal by the inverse CDF (in `uniform`'s
        precision), of the number's position within the bin's share of [0, 1) (uniform again, and
        independent of the bin), mapped straight to the CDF as offset + slope * uniform."""
        flat = torch.arange(bins.shape[-1]) * self.truncated.shape[1] + bins  # (column, bin) as one index
        tables = self.truncated.to(uniform.dtype).permute(2, 0, 1).reshape(6, -1)
        # numpy's take is ~2x torch's here (these lookups are most of lime's sampling time); CPU tensors
        flat = flat.numpy()
        offset, slope, mean, scale, low, high = (torch.from_numpy(np.take(table.numpy(), flat)) for table in tables)
        # the inverse normal CDF as sqrt(2) erfinv(2p - 1): 4x faster than ndtri here; |z| <= 5.3 in float32
        eps = torch.finfo(uniform.dtype).eps
        cdf = torch.addcmul(offset, uniform, slope)
        z = torch.erfinv(cdf.mul_(2).sub_(1).clamp_(-1 + eps, 1 - eps)).mul_(2**0.5)
        return torch.minimum(torch.maximum(mean + scale * z, low), high)

    @staticmethod
    def for_drawing_uniform(truncated: torch.Tensor, cumulative: torch.Tensor) -> torch.Tensor:
        """The truncated-normal table with (cdf start, cdf width) replaced by (offset, slope) of the
        number u that drew the bin: its position in the bin is (u - c) / p for a bin that starts at
        cumulative frequency c and has frequency p, so the CDF is start + width (u - c) / p."""
        before = torch.cat([torch.zeros_like(cumulative[:, :1]), cumulative[:, :-1]], 1)
        share = (cumulative.clamp(max=1.0) - before).clamp(min=0.0)
        slope = torch.where(share > 0, truncated[..., 1] / share.clamp(min=1e-300), torch.zeros_like(share))
        offset = truncated[..., 0] - before * slope
        return torch.cat([offset[..., None], slope[..., None], truncated[..., 2:]], -1)

    @staticmethod
    def truncated_normals(low, high, mean, std) -> torch.Tensor:
        """Per bin, the inverse-CDF recipe of lime's truncated normal (mean, std) cut to [low, high];
        taken on the side of the mean away from the far tail, so that the CDF keeps its precision."""
        a, b = (low - mean) / std, (high - mean) / std
        flip = a > 0
        a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
        start, end = torch.special.ndtr(a), torch.special.ndtr(b)
        point = high <= low  # a single value (categorical, or a bin of equal values): no spread
        start, width = torch.where(point, 0.5, start), torch.where(point, 0.0, end - start)
        scale = torch.where(point, 0.0, torch.where(flip, -std, std))
        return torch.stack([start, width, torch.where(point, low, mean), scale, low, high], -1)


def _bin_table(data: np.ndarray, binned: list[int], categorical: set[int], discretizer: str, labels, seed) -> _Bins:
    """lime's discretizers: bin edges per column from the training data, and each bin's statistics."""
    columns = data.shape[1]
    edges, stats = [], []
    for j in range(columns):  # at fit time, once per column
        column = data[:, j]
        if j in categorical:
            values, counts = np.unique(column, return_counts=True)
            edges.append((values[:-1] + values[1:]) / 2)
            stats.append((counts / counts.sum(), values, values, values, np.ones_like(values)))
            continue
        if j not in binned:
            edges.append(np.zeros(0))
            stats.append((np.ones(1), np.zeros(1), np.zeros(1), np.zeros(1), np.ones(1)))
            continue
        cut = np.unique(_edges(column, discretizer, labels, seed))
        edges.append(cut)
        index = np.searchsorted(cut, column)
        counts = np.bincount(index, minlength=len(cut) + 1)
        means = np.array([column[index == b].mean() if counts[b] else 0.0 for b in range(len(cut) + 1)])
        stds = np.array([column[index == b].std() if counts[b] else 0.0 for b in range(len(cut) + 1)]) + 1e-11
        lows, highs = np.r_[column.min(), cut], np.r_[cut, column.max()]
        stats.append((counts / counts.sum(), lows, highs, means, stds))
    width = max(len(s[0]) for s in stats)
    def pad(rows, value):
        return torch.tensor(np.stack([np.pad(r, (0, width - len(r)), constant_values=value) for r in rows]))

    low, high, mean, std = (pad([s[k] for s in stats], fill) for k, fill in ((1, 0.0), (2, 0.0), (3, 0.0), (4, 1.0)))
    cumulative = pad([np.cumsum(s[0]) for s in stats], 2.0)
    return _Bins(
        thresholds=pad(edges, np.inf)[:, : width - 1],
        cumulative=cumulative,
        n_bins=torch.tensor([len(s[0]) for s in stats]),
        low=low, truncated=_Bins.for_drawing_uniform(_Bins.truncated_normals(low, high, mean, std), cumulative),
        exact=torch.tensor([j in categorical for j in range(columns)]),
    )


def _edges(column: np.ndarray, discretizer: str, labels, seed) -> np.ndarray:
    if discretizer == "quartile":
        return np.percentile(column, [25, 50, 75])
    if discretizer == "decile":
        return np.percentile(column, np.arange(10, 100, 10))
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(criterion="entropy", max_depth=3, random_state=seed).fit(column[:, None], labels)
    cut = tree.tree_.threshold[tree.tree_.children_left > -1]
    return np.sort(cut) if len(cut) else np.array([np.median(column)])


class NeighbourhoodSampler:
    """Draws and evaluates the neighbourhood of every row of a game (shared by LIME and LEMNA).

    `coalitions`: "count" or "bernoulli" (see `draw_coalitions`); `kernel_width`: None for lime's
    default for the features' kind (0.25 images, 25 text, 0.75 sqrt(d) tables); `shared_samples`:
    rows of a table share lime_tabular's samples, which do not depend on the row (unless drawn
    around it): each row's neighbourhood is distributed as lime's, and the model sees n + rows
    inputs instead of n x rows.

    >>> from unboxed import adapt
    >>> from unboxed.maskers import TabularMasker
    >>> from unboxed.targets import Target
    >>> model, masker = adapt(lambda x: x.sum(1)), TabularMasker(fill=0.0)
    >>> x = masker.check(np.array([[1.0, 2.0]]))
    >>> game = CoalitionGame(model, masker, x, Target(index=torch.tensor([0])), masker.features(x))
    >>> hood = NeighbourhoodSampler(model).draw(game, 3, torch_generator(0))
    >>> bool(torch.equal(hood.scores, hood.representation @ torch.tensor([1.0, 2.0], dtype=torch.float64)))
    True
    """

    def __init__(self, model, coalitions: str = "count", kernel_width: float | None = None, shared_samples: bool = True):
        self.model, self.coalitions = model, check_choice(coalitions, "coalitions", COALITIONS)
        self.shared_samples = bool(shared_samples)
        self.kernel_width = None if kernel_width is None else check_positive_float(kernel_width, "kernel_width")

    def width_for(self, game: CoalitionGame) -> float:
        return self.kernel_width if self.kernel_width is not None else default_kernel(game.masker.kind, game.width)[1]

    def draw(self, game: CoalitionGame, n: int, generator: torch.Generator, include_row: bool = True,
             active: torch.Tensor | None = None) -> Neighbourhood:
        """`n` samples per row; only `active` rows (default all) are evaluated, the others get weight 0."""
        rows = game.n_rows
        active = torch.ones(rows, dtype=torch.bool) if active is None else active.cpu()
        if isinstance(game.masker, LimeTabularMasker):
            shared = self.shared_samples and game.masker.shareable
            representation, inputs, distances = game.masker.sample(game.inputs, n, generator, include_row, shared)
            scores = self._evaluate_shared(game, inputs[0], include_row) if shared else self._evaluate(game, inputs, active)
        else:
            counts = torch.as_tensor(np.asarray(game.features.counts))
            keep = draw_coalitions(counts, n, game.width, generator, self.coalitions, include_row)
            scores = torch.zeros(rows, n, dtype=torch.float64)
            which = active.nonzero()[:, 0]
            if len(which):
                values = game.values(which.repeat_interleave(n), keep[which].reshape(-1, game.width))
                scores[which] = values.view(len(which), n)
            real = torch.arange(game.width)[None, None, :] < counts[:, None, None]
            representation = (keep & real).double()
            distances = self._distance(game.masker.kind, representation, counts.double())
        weights = kernel_weights(distances, self.width_for(game)) * active[:, None]
        return Neighbourhood(representation, scores, weights)

    def _distance(self, kind: str, representation: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Distance of binary samples to the all-ones row: cosine (x100 for text) or euclidean."""
        metric, _, scale = default_kernel(kind, 1)
        kept = representation.sum(-1)
        if metric == "euclidean":
            return (counts[:, None] - kept).clamp_min(0).sqrt()
        return scale * (1 - (kept / counts[:, None]).sqrt())

    def _evaluate_shared(self, game: CoalitionGame, samples: torch.Tensor, include_row: bool) -> torch.Tensor:
        """Target scores (rows, n) of samples (n, ...) shared by all rows (the first is each row itself
        with `include_row`): the samples are evaluated once per target class among the rows."""
        start = 1 if include_row else 0
        scores = torch.zeros(game.n_rows, len(samples), dtype=torch.float64)
        index = game.target.index
        classes = [None] if index is None else index.unique().tolist()
        for label in classes:
            owners = slice(None) if label is None else index == label
            target = game.target if label is None else Target(index=torch.tensor([label]))
            scores[owners, start:] = self._scores(game, samples[start:], target)
        if include_row:
            scores[:, 0] = self._scores(game, game.inputs, game.target, one_each=False)
        return scores

    def _scores(self, game: CoalitionGame, samples: torch.Tensor, target: Target, one_each: bool = True) -> torch.Tensor:
        """Target scores of model inputs in chunks; `one_each`: one target for all (else one per input)."""
        step = max(1, game.coalitions_per_call)
        parts = [self.model.evaluate(samples[i : i + step], target.repeat_each(len(samples[i : i + step])) if one_each
                                     else target.take(slice(i, i + step))).detach() for i in range(0, len(samples), step)]
        game.model_inputs += len(samples)
        values = torch.cat(parts).to("cpu", torch.float64) if parts else torch.zeros(0, dtype=torch.float64)
        if not bool(torch.isfinite(values).all()):
            raise InputError("the model returned non-finite scores on LIME's samples of the training distribution")
        return values

    def _evaluate(self, game: CoalitionGame, inputs: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Target scores of drawn model inputs (rows, n, ...) of the active rows, in chunks."""
        rows, n = inputs.shape[:2]
        scores = torch.zeros(rows, n, dtype=torch.float64)
        which = active.nonzero()[:, 0]
        flat = inputs[which.to(inputs.device)].reshape(len(which) * n, *inputs.shape[2:])
        scores[which] = self._scores(game, flat, game.target.take(which.repeat_interleave(n)), one_each=False).view(len(which), n)
        return scores


@register
class Lime(MaskedExplainer):
    """LIME: explain each row by a weighted ridge regression on its sampled neighbourhood.

    - `n_samples` per row (the first is the row itself); `kernel_width` (None: lime's default for
      the features' kind); `alpha` the ridge penalty (lime's 1.0; 0 is weighted least squares).
    - `n_features`: keep only this many features ("highest weights" selection, then a refit);
      None uses all.
    - images, text, or any `masker`: coalitions of the masker's features, `coalitions` "count"
      (lime text) or "bernoulli" (lime image). Tables with a `background` (and no masker): lime
      tabular's sampler, with `discretize_continuous`, `discretizer`, `sample_around_instance`,
      `categorical_features`, `training_labels` (see `LimeTabularMasker`). lime_tabular's samples do
      not depend on the row (unless drawn around it), so with `shared_samples` (default) the rows of
      one call share them: each row's neighbourhood is distributed exactly as lime's, the model sees
      n + rows inputs instead of n x rows, and a row's answer does not depend on the other rows in
      the call; `shared_samples=False` draws every row its own.
    - `until_stable`: draw `n_samples` more per row in rounds until a row's `top_k` features stop
      changing between rounds, or it reached `max_samples`; rows that are stable stop drawing.

    `values` are the coefficients, `base` the intercept; `surrogate` holds per row the intercept,
    `r2` (weighted R^2: local fidelity), `local_prediction` (the surrogate at the row) and `n_samples`.

    >>> from unboxed.maskers import TabularMasker
    >>> model = lambda x: x @ np.array([3.0, -1.0, 0.0])
    >>> result = Lime(model, masker=TabularMasker(fill=0.0), n_samples=200, alpha=0.0).explain(np.ones((1, 3)))
    >>> np.round(result.values, 6).tolist() == [[3.0, -1.0, 0.0]], round(result.surrogate["r2"][0], 6)
    (True, 1.0)
    """

    info = MethodInfo(
        "lime", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.LOCAL, Access.BLACK_BOX,
        "weighted linear model fitted on a sampled neighbourhood", "Ribeiro et al. 2016; lime package",
    )

    def __init__(self, model, masker: Masker | None = None, background: Any = None, n_samples: int = 1000,
                 kernel_width: float | None = None, alpha: float = 1.0, n_features: int | None = None,
                 coalitions: str = "count", discretize_continuous: bool = True, discretizer: str = "quartile",
                 sample_around_instance: bool = False, categorical_features: Sequence[int] = (),
                 training_labels: Any = None, shared_samples: bool = True, until_stable: bool = False, top_k: int = 5,
                 max_samples: int = 10000, show_progress: bool = False, seed: int | None = 0):
        if masker is None and background is not None:
            masker = LimeTabularMasker(background, discretize_continuous, discretizer, sample_around_instance,
                                       categorical_features, training_labels, seed=seed)
        super().__init__(model, masker, background, show_progress, seed)
        self.n_samples = check_positive_int(n_samples, "n_samples", minimum=2)
        self.alpha = check_positive_float(alpha, "alpha", allow_zero=True)
        self.n_features = None if n_features is None else check_positive_int(n_features, "n_features")
        self.sampler = NeighbourhoodSampler(self.model, coalitions, kernel_width, shared_samples)
        self.kernel_width, self.coalitions, self.shared_samples = kernel_width, coalitions, bool(shared_samples)
        self.discretize_continuous, self.discretizer = discretize_continuous, discretizer
        self.sample_around_instance = sample_around_instance
        self.until_stable, self.top_k = bool(until_stable), check_positive_int(top_k, "top_k")
        self.max_samples = check_positive_int(max_samples, "max_samples")
        if self.until_stable and self.max_samples < 2 * self.n_samples:
            raise InputError(f"max_samples ({max_samples}) must allow two rounds of n_samples ({n_samples}) to compare")

    def neighbourhood(self, game: CoalitionGame, generator: torch.Generator | None = None) -> Neighbourhood:
        """The first round of samples, as `attribute_game` draws them with the same seed."""
        generator = torch_generator(self.seed) if generator is None else generator
        return self.sampler.draw(game, self.n_samples, generator)

    def attribute_game(self, game: CoalitionGame):
        generator = torch_generator(self.seed)
        hood = self.neighbourhood(game, generator)
        active = torch.arange(game.width)[None, :] < torch.as_tensor(np.asarray(game.features.counts))[:, None]
        fit, _, gram = self._fit(hood, active)
        drawn = torch.full((game.n_rows,), self.n_samples)
        drawing = torch.ones(game.n_rows, dtype=torch.bool)
        while self.until_stable and bool(drawing.any()) and int(drawn.max()) < self.max_samples:
            more = min(self.n_samples, self.max_samples - int(drawn.max()))
            hood = hood + self.sampler.draw(game, more, generator, include_row=False, active=drawing)
            drawn += more * drawing
            previous, (fit, _, gram) = fit, self._fit(hood, active)
            same = (top_k(previous.coef, self.top_k, active) == top_k(fit.coef, self.top_k, active)).all(-1)
            drawing &= ~same
        surrogate = {
            "intercept": fit.intercept.tolist(),
            "r2": gram.r2(fit.coef).tolist(),
            "local_prediction": fit.predict(hood.representation[:, :1])[:, 0].tolist(),
            "n_samples": drawn.tolist(),
            "kernel_width": self.sampler.width_for(game),
        }
        return fit.coef, {"base": fit.intercept, "surrogate": surrogate}

    def _fit(self, hood: Neighbourhood, active: torch.Tensor):
        return fit_surrogate(hood.representation, hood.scores, hood.weights, self.alpha, self.n_features, active)
