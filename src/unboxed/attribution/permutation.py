"""Permutation importance: how much a data set's score drops when one feature is shuffled across rows."""
from __future__ import annotations

from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..explainer import Explainer
from ..explanation import FeatureImportance, provenance
from ..maskers import TabularMasker
from ..model import describe_model
from ..random import torch_generator
from ..targets import resolve_target
from ..taxonomy import Access, Engagement, Format, MethodInfo, Scope, register
from ..validation import as_tensor, check_positive_int

METRICS = ("accuracy", "neg_log_loss", "r2", "neg_mean_squared_error", "target_score")
CLASSIFICATION = ("accuracy", "neg_log_loss")


@register
class PermutationImportance(Explainer):
    """importance_j = score(data) - score(data with feature j permuted across rows), over `n_repeats` shuffles.

    A global explanation (Breiman 2001; Fisher, Rudin & Dominici 2019): which features the model
    needs to keep its score on a data set. Settings:

    - `metric`: "accuracy", "neg_log_loss" (on probabilities, or on the softmax of logits),
      "r2", "neg_mean_squared_error" (regression, on the target output), "target_score" (the mean
      explained score; needs no labels), or a callable `(labels, outputs) -> score` on numpy arrays,
      higher is better (e.g. a scikit-learn metric). None: accuracy for models with several
      outputs, R^2 for a single output.
    - `n_repeats`: shuffles per feature; `seed`: the shuffles (same seed, same result).
    - `groups`: columns permuted together as one feature, as `TabularMasker`'s groups (a list of
      column lists, or {name: columns}; names or indices).

    Without labels the score compares with the model's own predictions on the intact data. Every
    (feature, repeat) shuffle of every row goes through the model in a few big batches.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> model = lambda x: x @ np.array([2.0, 1.0, 0.0])
    >>> result = PermutationImportance(model, metric="r2", n_repeats=3).explain(X)
    >>> result.ranking(), float(result.importances[2])
    (['x0', 'x1', 'x2'], 0.0)
    """

    info = MethodInfo(
        "permutation_importance", Engagement.PASSIVE, Format.ATTRIBUTION, Scope.GLOBAL, Access.BLACK_BOX,
        "drop of a data set's score when one feature is shuffled across rows", "Breiman 2001; Fisher, Rudin & Dominici 2019",
    )

    def __init__(self, model, metric: str | Callable | None = None, n_repeats: int = 5, groups: Any = None,
                 seed: int | None = 0, show_progress: bool = False):
        super().__init__(model)
        if metric is not None and not callable(metric) and metric not in METRICS:
            raise InputError(f"metric must be one of {', '.join(map(repr, METRICS))} or a callable (labels, outputs) -> score; "
                             f"got {metric!r}")
        self.metric, self.n_repeats = metric, check_positive_int(n_repeats, "n_repeats")
        self.groups, self.seed, self.show_progress = groups, seed, show_progress

    def explain(self, inputs: Any, labels: Any = None, target: Any = None,
                feature_names: list[str] | None = None) -> FeatureImportance:
        """Importance of every column (or group) of the table `inputs` (rows, columns).

        `labels`: the true class per row (classification metrics) or value (regression); None
        compares with the model's predictions. `target`: the output that "r2",
        "neg_mean_squared_error" and "target_score" read (default: the predicted class, or the
        only output).
        """
        masker = TabularMasker(fill=0.0, groups=self.groups, feature_names=feature_names)
        x = masker.check(inputs)
        if len(x) < 2:
            raise InputError(f"permutation importance shuffles rows: give at least 2 rows, got {len(x)}")
        x = x.to(self.model.device, getattr(self.model, "dtype", x.dtype))
        features = masker.features(x)
        owner = features.segments[0]  # feature index of every column
        raw = self.model.outputs(x)
        outputs = raw.to("cpu", torch.float64)
        name = self.metric if self.metric is not None else ("accuracy" if outputs.shape[1] > 1 else "r2")
        score = _Score(name, outputs, labels, target, eps=torch.finfo(raw.dtype).eps if raw.is_floating_point() else 1e-15)
        permutations = self._permutations(len(features.names), len(x))
        drops = score.baseline - self._permuted_scores(x, owner, permutations, score)
        return FeatureImportance(
            provenance=provenance(self.info.name, self.settings(), self.seed, describe_model(self.model)),
            repeats=drops.view(len(features.names), self.n_repeats).numpy(),
            feature_names=[str(name) for name in features.names],
            metric=score.name,
            baseline=score.baseline,
            n_rows=len(x),
            labels="given" if labels is not None else "predictions",
        )

    def _permutations(self, n_features: int, n_rows: int) -> torch.Tensor:
        """(features, repeats, rows) row orders, drawn at once: the same whatever the batch size."""
        noise = torch.rand(n_features, self.n_repeats, n_rows, generator=torch_generator(self.seed))
        return noise.argsort(dim=-1)

    def _permuted_scores(self, x: torch.Tensor, owner: torch.Tensor, permutations: torch.Tensor,
                         score: "_Score") -> torch.Tensor:
        """The score of every (feature, repeat) shuffle, in batches of whole shuffled data sets."""
        n_features, n_repeats, n_rows = permutations.shape
        flat = permutations.view(-1, n_rows).to(x.device)
        feature_of = torch.arange(n_features, device=x.device).repeat_interleave(n_repeats)
        per_call = max(1, self.model.chunk_size(x) // n_rows)
        scores = torch.empty(len(flat), dtype=torch.float64)
        starts = range(0, len(flat), per_call)
        for start in tqdm(starts, desc=self.info.name, unit="batch", disable=not self.show_progress or len(starts) < 2):
            order = flat[start : start + per_call]  # (shuffles, rows)
            shuffled = owner[None, :] == feature_of[start : start + per_call, None]  # (shuffles, columns)
            batch = torch.where(shuffled[:, None, :], x[order], x[None])
            outputs = self.model.outputs(batch.reshape(-1, x.shape[1])).to("cpu", torch.float64)
            scores[start : start + len(order)] = score(outputs.view(len(order), n_rows, -1))
        return scores


class _Score:
    """A data set's score, vectorised over many versions of the data set: outputs (versions, rows, k) -> (versions,)."""

    def __init__(self, name: str | Callable, outputs: torch.Tensor, labels: Any, target: Any, eps: float):
        self.eps = eps  # probabilities are clipped to [eps, 1 - eps], as scikit-learn's log_loss does
        self.function = name if callable(name) else None
        self.name = getattr(name, "__name__", "metric") if callable(name) else name
        n, width = outputs.shape
        self.target = resolve_target(target, outputs) if not callable(name) and name not in CLASSIFICATION else None
        self.probabilities = bool(outputs.min() >= 0 and outputs.max() <= 1 and torch.allclose(
            outputs.sum(1), torch.ones(n, dtype=outputs.dtype), atol=1e-4))
        if self.name in CLASSIFICATION and width < 2:
            raise InputError(f"{self.name} needs one output per class; this model has a single output (use r2 or a callable)")
        self.labels = self._labels(labels, outputs)
        self.baseline = float(self(outputs[None])[0])

    def _labels(self, labels: Any, outputs: torch.Tensor) -> torch.Tensor:
        n, width = outputs.shape
        if labels is None:  # the model's own predictions on the intact data
            if self.function is not None or self.name in CLASSIFICATION:
                return outputs.argmax(1) if width > 1 else outputs[:, 0]
            return self._selected(outputs[None])[0]
        values = as_tensor(labels.float() if isinstance(labels, torch.Tensor) and not labels.is_floating_point() else labels,
                           "labels", dtype=torch.float64).cpu()
        if values.shape != (n,):
            raise InputError(f"labels must have one value per row, shape ({n},); got {tuple(values.shape)}")
        if self.name in CLASSIFICATION:
            if bool((values != values.round()).any()) or values.min() < 0 or values.max() >= width:
                raise InputError(f"{self.name} needs labels that are class indices 0..{width - 1} (the model's outputs)")
            return values.long()
        return values

    def _selected(self, outputs: torch.Tensor) -> torch.Tensor:
        """The target output of every row of every version: (versions, rows)."""
        versions, n, width = outputs.shape
        return self.target.repeat(versions).select(outputs.reshape(versions * n, width)).view(versions, n).double()

    def __call__(self, outputs: torch.Tensor) -> torch.Tensor:
        if self.function is not None:
            truth = self.labels.numpy()
            return torch.tensor([float(self.function(truth, version)) for version in outputs.numpy()], dtype=torch.float64)
        if self.name == "accuracy":
            return (outputs.argmax(-1) == self.labels).double().mean(-1)
        if self.name == "neg_log_loss":
            log_p = outputs.clamp(self.eps, 1 - self.eps).log() if self.probabilities else outputs.log_softmax(-1)
            return log_p.gather(-1, self.labels.expand(len(outputs), -1)[..., None])[..., 0].mean(-1)
        predicted = self._selected(outputs)
        if self.name == "target_score":
            return predicted.mean(-1)
        squared = ((predicted - self.labels) ** 2).sum(-1)
        if self.name == "neg_mean_squared_error":
            return -squared / predicted.shape[-1]
        spread = ((self.labels - self.labels.mean()) ** 2).sum()
        if spread == 0:
            raise InputError("r2 is undefined when every label is the same: use neg_mean_squared_error")
        return 1 - squared / spread


__all__ = ["METRICS", "PermutationImportance"]
