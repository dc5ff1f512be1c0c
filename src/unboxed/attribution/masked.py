"""What every perturbation method shares: a masker, the coalition game, packaging of the result."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..explainer import Explainer
from ..explanation import FeatureAttribution, provenance
from ..maskers import ImageMasker, Masker, TabularMasker, TextMasker
from ..model import describe_model
from ..targets import resolve_target
from .coalitions import CoalitionGame


def default_masker(inputs: Any, background: Any = None) -> Masker:
    """The masker for inputs of this form: text -> words, (n, C, H, W) -> SLIC superpixels filled
    with 0, tables -> the background data set (which then must be given)."""
    if isinstance(inputs, str) or (isinstance(inputs, (list, tuple, np.ndarray)) and len(inputs) and isinstance(
            np.asarray(inputs).flat[0], str)):
        return TextMasker()
    ndim = np.ndim(inputs) if not isinstance(inputs, torch.Tensor) else inputs.ndim
    if ndim == 4:
        return ImageMasker()
    if ndim == 2:
        if background is None:
            raise InputError(
                "tabular inputs need a background data set to remove features with: pass background=X_train "
                "(or masker=TabularMasker(...), e.g. fill='mean' or a fixed value)"
            )
        return TabularMasker(background)
    raise InputError(f"no default masker for inputs with {ndim} dims: pass masker=... (tabular, image or text)")


class MaskedExplainer(Explainer):
    """Base of methods that explain by removing features: subclasses implement `attribute_game`.

    Settings shared by all of them: `masker` (how a feature is removed; default by the inputs'
    form, see `default_masker`), `background` (a data set for the default tabular masker),
    `show_progress` and `seed`.
    """

    def __init__(self, model, masker: Masker | None = None, background: Any = None, show_progress: bool = False,
                 seed: int | None = 0):
        super().__init__(model)
        if masker is not None and not isinstance(masker, Masker):
            raise InputError(f"masker must be an unboxed Masker (tabular, image or text), got {type(masker).__name__}")
        self.masker, self.background, self.show_progress, self.seed = masker, background, show_progress, seed

    def settings(self) -> dict[str, Any]:
        settings = super().settings()
        settings["masker"] = self.masker.describe() if self.masker is not None else "default"
        if self.background is not None:
            settings["background"] = f"{len(self.background)} rows"
        return settings

    def explain(self, inputs: Any, target: Any = None, feature_names: list[str] | None = None) -> FeatureAttribution:
        """Attribute the target score of every row of `inputs` to its interpretable features."""
        masker = self.masker or default_masker(inputs, self.background)
        checked = masker.check(inputs)
        if isinstance(checked, torch.Tensor):
            checked = checked.to(self.model.device, getattr(self.model, "dtype", checked.dtype))
        outputs = self.model.outputs(checked)
        resolved = resolve_target(target, outputs)
        features = masker.features(checked)
        if feature_names is not None:
            if len(feature_names) != features.width:
                raise InputError(f"{len(feature_names)} feature names for {features.width} features")
            features.names = list(feature_names)
        game = CoalitionGame(self.model, masker, checked, resolved, features, self.show_progress, self.info.name)
        values, extras = self.attribute_game(game)
        padding = torch.arange(features.width)[None, :] >= torch.as_tensor(features.counts)[:, None]
        values = values.to("cpu", torch.float64).masked_fill(padding, 0.0)
        stderr = extras.get("stderr")
        return FeatureAttribution(
            provenance=provenance(self.info.name, self.settings(), self.seed, describe_model(self.model)),
            values=values.numpy(),
            inputs=checked.detach().cpu().numpy() if isinstance(checked, torch.Tensor) else checked,
            scores=resolved.select(outputs).detach().cpu().double().numpy(),
            target=resolved.as_list(),
            layout=masker.kind,
            feature_names=features.names if features.names is None or isinstance(features.names[0], str)
            else [list(n) for n in features.names],
            base=None if extras.get("base") is None else extras["base"].cpu().double().numpy(),
            stderr=None if stderr is None else stderr.to("cpu", torch.float64).masked_fill(padding, 0.0).numpy(),
            counts=np.asarray(features.counts),
            segments=None if features.segments is None else features.segments.cpu().numpy(),
            surrogate=extras.get("surrogate"),
            masker=masker.describe(),
        )

    def attribute_game(self, game: CoalitionGame) -> tuple[torch.Tensor, dict[str, Any]]:
        """Values (rows, width) from the game, plus extras: `base`, `stderr`, `surrogate`."""
        raise NotImplementedError
