"""Attribution methods: which input features a decision rests on."""
from .base import AttributionExplainer
from .gradients import InputXGradient, Saliency

__all__ = ["AttributionExplainer", "InputXGradient", "Saliency"]
from .integrated_gradients import IntegratedGradients

__all__ += ["IntegratedGradients"]
from .guided import Deconvolution, GuidedBackprop

__all__ += ["Deconvolution", "GuidedBackprop"]
