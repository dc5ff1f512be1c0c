"""The survey taxonomy as data, and the registry of methods that answers questions about it.

Every method declares where it stands on three axes (Zhang et al.'s survey): engagement
(passive post-hoc or active, built into training), format (what the explanation is made of) and
scope (one decision, a neighbourhood, the whole model), plus the model access it needs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Iterable


class Engagement(str, Enum):
    PASSIVE = "passive"
    ACTIVE = "active"


class Format(str, Enum):
    RULES = "rules"
    HIDDEN_SEMANTICS = "hidden-semantics"
    ATTRIBUTION = "attribution"
    EXAMPLES = "examples"
    COUNTERFACTUAL = "counterfactual"
    CAUSAL = "causal"


class Scope(str, Enum):
    LOCAL = "local"
    SEMI_LOCAL = "semi-local"
    GLOBAL = "global"


class Access(str, Enum):
    """What the method needs from the model, from least to most."""

    BLACK_BOX = "black-box"
    GRADIENTS = "gradients"
    INTERNALS = "internals"


@dataclass(frozen=True)
class MethodInfo:
    """One method's place in the taxonomy and the one-line summary the catalogue prints."""

    name: str
    engagement: Engagement
    format: Format
    scope: Scope
    access: Access
    summary: str
    reference: str = ""

    def as_dict(self) -> dict[str, str]:
        return {key: getattr(value, "value", value) for key, value in asdict(self).items()}


_REGISTRY: dict[str, type] = {}


def register(explainer_class: type) -> type:
    """Class decorator: add an Explainer subclass (which carries `info`) to the catalogue."""
    name = explainer_class.info.name
    if name in _REGISTRY and _REGISTRY[name] is not explainer_class:
        raise ValueError(f"method name {name!r} is registered twice")
    _REGISTRY[name] = explainer_class
    return explainer_class


def _matches(value: Enum, wanted: str | Enum | Iterable | None) -> bool:
    if wanted is None:
        return True
    if isinstance(wanted, (str, Enum)):
        wanted = [wanted]
    return value.value in {getattr(w, "value", w) for w in wanted}


def _check_axis(enum: type[Enum], wanted) -> None:
    if wanted is None:
        return
    allowed = {member.value for member in enum}
    for item in [wanted] if isinstance(wanted, (str, Enum)) else wanted:
        if getattr(item, "value", item) not in allowed:
            from .errors import InputError

            raise InputError(f"unknown {enum.__name__.lower()} {item!r}; choose from {', '.join(sorted(allowed))}")


def methods(engagement=None, format=None, scope=None, access=None) -> list[MethodInfo]:
    """The catalogue of methods, filtered on any axis of the taxonomy.

    Each filter takes one value or several (an iterable); omitted axes are not filtered.

    >>> import unboxed
    >>> "occlusion" in [m.name for m in unboxed.methods(format="attribution", access="black-box")]
    True
    """
    from . import attribution  # noqa: F401  (importing registers the methods)

    for enum, wanted in ((Engagement, engagement), (Format, format), (Scope, scope), (Access, access)):
        _check_axis(enum, wanted)
    infos = [cls.info for cls in _REGISTRY.values()]
    return sorted(
        (
            info
            for info in infos
            if _matches(info.engagement, engagement)
            and _matches(info.format, format)
            and _matches(info.scope, scope)
            and _matches(info.access, access)
        ),
        key=lambda info: info.name,
    )


def get_method(name: str) -> type:
    """The Explainer class registered under `name`, with close names suggested on a miss."""
    from . import attribution  # noqa: F401

    if name not in _REGISTRY:
        import difflib

        from .errors import InputError

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise InputError(f"unknown method {name!r}{hint}")
    return _REGISTRY[name]
