"""unboxed: open up deep-learning models, and measure how far each explanation can be trusted."""
__version__ = "0.1.0"

from .errors import InputError, LayerNotFoundError, ModelAccessError, UnboxedError
from .explanation import Attribution, Explanation, FeatureAttribution
from .model import ModelAdapter, adapt
from .taxonomy import Access, Engagement, Format, MethodInfo, Scope, get_method, methods


def explain(model, inputs, method: str = "integrated_gradients", target=None, **settings):
    """Explain `model` on `inputs` with the method registered as `method`.

    >>> import torch, unboxed
    >>> result = unboxed.explain(torch.nn.Linear(3, 2), torch.ones(1, 3), method="saliency", target=1)
    >>> result.values.shape
    (1, 3)
    """
    return get_method(method)(model, **settings).explain(inputs, target=target)


def audit(model, data=None, **settings):
    """Audit `model` on `data`: what it relies on, why it decided as it did on chosen cases, and how
    far each explanation can be trusted (see `unboxed.auditing.audit` for the settings). Returns an
    `Audit`: `.save(folder)` writes the self-contained HTML report and the raw results.

    >>> result = audit("breast_cancer_mlp", methods=["kernel_shap"], cases=1, budget=32, global_rows=8,
    ...                sanity=False, show_progress=False)
    >>> sorted(result.trust.scores.columns)
    ['deletion', 'insertion', 'seed_stability']
    """
    from .auditing import audit as run_audit

    return run_audit(model, data, **settings)


def load(path):
    """Load any explanation saved with `.save()` (never unpickles)."""
    return Explanation.load(path)


__all__ = [
    "Access", "Attribution", "Engagement", "Explanation", "FeatureAttribution", "Format", "InputError", "LayerNotFoundError",
    "MethodInfo", "ModelAccessError", "ModelAdapter", "Scope", "UnboxedError", "adapt", "audit", "explain", "get_method",
    "load", "methods",
]
from .explanation import FeatureImportance  # noqa: E402

__all__ += ["FeatureImportance"]
