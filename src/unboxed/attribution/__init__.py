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
from .permutation import PermutationImportance

__all__ += ["PermutationImportance"]
from .gradient_shap import GradientSHAP
from .kernel_shap import KernelSHAP
from .sampling_shapley import SamplingShapley
from .shapley import ExactShapley

__all__ += ["ExactShapley", "GradientSHAP", "KernelSHAP", "SamplingShapley"]
from .lemna import Lemna
from .lime import Lime, LimeTabularMasker

__all__ += ["Lemna", "Lime", "LimeTabularMasker"]
from .lrp import COMPOSITES, LRP, Composite
from .relevance_rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus

__all__ += ["AlphaBeta", "COMPOSITES", "Composite", "Epsilon", "Flat", "Gamma", "LRP", "WSquare", "ZBox", "ZPlus"]
from .deeplift import DeepLift, DeepLiftAttribution, DeepLiftShap

__all__ += ["DeepLift", "DeepLiftAttribution", "DeepLiftShap"]
