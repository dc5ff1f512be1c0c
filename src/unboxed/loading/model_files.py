"""What every loader does with a file first: find it, fingerprint it, and refuse what runs code."""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from ..errors import InputError


class UntrustedFileWarning(UserWarning):
    """A file that can run code when loaded was loaded because the user said they trust it."""


def existing_file(spec: str | Path, what: str = "model file") -> Path:
    """`spec` as a Path to a file that exists, or a clear error.

    >>> existing_file("no/such/model.onnx")
    Traceback (most recent call last):
    ...
    unboxed.errors.InputError: model file 'no/such/model.onnx' not found
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        raise InputError(f"{what} {str(spec)!r} is a folder; give the file itself")
    if not path.is_file():
        raise InputError(f"{what} {str(spec)!r} not found")
    return path


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     (pathlib.Path(folder) / "empty").write_bytes(b"")
    ...     file_sha256(pathlib.Path(folder) / "empty")[:16]
    0
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_trust(path: Path, what: str, trust_pickle: bool, instead: str) -> str:
    """Refuse a file that runs code when loaded, unless the user trusts it (then warn and return a note).

    `what` says what the file is ("a pickle"); `instead` says how to do without trusting it.

    >>> require_trust(Path("model.pkl"), "a pickle", False, "or save it with skops")
    Traceback (most recent call last):
    ...
    unboxed.errors.InputError: model.pkl is a pickle: loading it can run arbitrary code hidden in the file. Pass --trust-pickle (trust_pickle=True) only if you made it or trust where it came from, or save it with skops
    """
    if not trust_pickle:
        raise InputError(
            f"{path.name} is {what}: loading it can run arbitrary code hidden in the file. "
            f"Pass --trust-pickle (trust_pickle=True) only if you made it or trust where it came from, {instead}"
        )
    warnings.warn(
        f"loading {path.name} ({what}) because --trust-pickle was given: a crafted file can run arbitrary code while it loads",
        UntrustedFileWarning, stacklevel=3,
    )
    return f"{path.name} is {what}, loaded because --trust-pickle was given (a crafted file could run code)"


def first_line(error: Exception) -> str:
    """The first line of an error's message (libraries append long traces), or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
