"""Attribution methods: which input features a decision rests on."""
from .base import AttributionExplainer
from .gradients import InputXGradient, Saliency

__all__ = ["AttributionExplainer", "InputXGradient", "Saliency"]
from .integrated_gradients import IntegratedGradients

__all__ += ["IntegratedGradients"]
from .guided import Deconvolution, GuidedBackprop

__all__ += ["Deconvolution", "GuidedBackprop"]
from .smoothgrad import SmoothGrad

__all__ += ["SmoothGrad"]
from .cam import CAM, BaseCAM, GradCAM, GradCAMPlusPlus, GuidedGradCAM

__all__ += ["BaseCAM", "CAM", "GradCAM", "GradCAMPlusPlus", "GuidedGradCAM"]
from .occlusion import Occlusion

__all__ += ["Occlusion"]
from .ablation import FeatureAblation
from .masked import MaskedExplainer

__all__ += ["FeatureAblation", "MaskedExplainer"]
