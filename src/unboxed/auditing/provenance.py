"""Stage 6 — how the audit was made: versions, seed, settings, fingerprints, the exact command."""
from __future__ import annotations

import platform
import shlex
import sys
from importlib import metadata
from typing import Any

from .plan import AuditSettings
from .subject import Subject

PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "scikit-image", "pandas", "onnxruntime", "skops")


def versions() -> dict[str, str]:
    """Versions of Python, unboxed and the libraries the numbers depend on (installed ones only).

    >>> found = versions()
    >>> "torch" in found and "unboxed" in found
    True
    """
    from .. import __version__

    found = {"python": platform.python_version(), "unboxed": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return dict(sorted(found.items()))


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed (shell-quoted), from `argv` or this process's arguments.

    >>> command_line(["unboxed", "audit", "--data", "my data.csv"])
    "unboxed audit --data 'my data.csv'"
    """
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith(("/unboxed", "\\unboxed", "unboxed")):
        argv[0] = "unboxed"
    return shlex.join(argv)


def provenance(subject: Subject, settings: AuditSettings, method_settings: dict[str, dict[str, Any]],
               command: str | None) -> dict[str, Any]:
    """Everything needed to re-run the audit to the same numbers."""
    from ..gallery import describe_setting

    return {
        "command": command,
        "seed": settings.seed,
        "settings": settings.as_dict(),
        "method settings": {name: {k: describe_setting(v) for k, v in chosen.items()} for name, chosen in method_settings.items()},
        "fingerprints": subject.fingerprints(),
        "model source": {k: v for k, v in subject.source.items() if isinstance(v, (str, int, float, bool))},
        "data source": subject.data.source,
        "versions": versions(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
