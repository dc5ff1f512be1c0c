"""Explainer: the base every method shares (scikit-learn style: settings in __init__, work in explain)."""
from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from .model import ModelAdapter, adapt
from .taxonomy import Access, MethodInfo


@functools.lru_cache(maxsize=None)
def _setting_names(explainer_class: type) -> tuple[str, ...]:
    parameters = inspect.signature(explainer_class.__init__).parameters
    return tuple(p for p in parameters if p not in ("self", "model"))


class Explainer:
    """A method bound to a model. Subclasses set `info` and implement `explain`.

    The constructor takes the model (torch module, scikit-learn estimator, callable or adapter)
    and keyword settings; `explain(inputs, target=...)` returns an Explanation.
    """

    info: ClassVar[MethodInfo]

    def __init__(self, model: Any):
        self.model: ModelAdapter = adapt(model)
        if self.info.access in (Access.GRADIENTS, Access.INTERNALS):
            self.model.require_gradients(self.info.name)

    def settings(self) -> dict[str, Any]:
        """The method's settings, as given to the constructor (for provenance and repr)."""
        return {name: getattr(self, name) for name in _setting_names(type(self)) if hasattr(self, name)}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"

    def explain(self, inputs: Any, target: Any = None, **kwargs):
        raise NotImplementedError
