"""Evaluation: how far an explanation can be trusted, measured the same way for every method."""
from .base import CATEGORIES, Metric, MetricResult, get_metric, metrics, register_metric

__all__ = ["CATEGORIES", "Metric", "MetricResult", "get_metric", "metrics", "register_metric"]

# Faithfulness, complexity and localisation metrics (registered on import).
from .complexity import EffectiveComplexity, EntropyComplexity, Sparseness
from .deletion import Deletion, Insertion, PixelFlipping
from .eraser import Comprehensiveness, Sufficiency
from .faithfulness_correlation import FaithfulnessCorrelation
from .infidelity import Infidelity
from .localisation import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy
from .removal import ElementMasker
from .road import ROAD

__all__ += ["Comprehensiveness", "Deletion", "EffectiveComplexity", "ElementMasker", "EntropyComplexity",
            "FaithfulnessCorrelation", "Infidelity", "Insertion", "PixelFlipping", "PointingGame", "ROAD",
            "RelevanceMassAccuracy", "RelevanceRankAccuracy", "Sparseness", "Sufficiency"]

# Robustness and randomisation sanity checks (registered on import), and the map similarities they use.
from .randomisation import (DataRandomisation, IndependentLayerRandomisation, ModelParameterRandomisation, RandomLogit,
                            plot_randomisation, plot_randomisation_maps)
from .robustness import AverageSensitivity, LocalLipschitzEstimate, MaxSensitivity, SeedStability
from .similarity import MapComparison, compare_maps, spearman, ssim, top_k_overlap

__all__ += ["AverageSensitivity", "DataRandomisation", "IndependentLayerRandomisation", "LocalLipschitzEstimate",
            "MapComparison", "MaxSensitivity", "ModelParameterRandomisation", "RandomLogit", "SeedStability", "compare_maps",
            "plot_randomisation", "plot_randomisation_maps", "spearman", "ssim", "top_k_overlap"]

# Comparing methods on metrics (table + rank picture), and the watermark diagnosis case.
from .compare import Comparison, compare, plot_comparison
from .diagnosis import WatermarkCase, watermark_case

__all__ += ["Comparison", "WatermarkCase", "compare", "plot_comparison", "watermark_case"]
