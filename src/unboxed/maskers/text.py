"""Text masker: words or tokens removed, or replaced by a mask token."""
from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import torch

from ..errors import InputError
from .base import Features, Masker

_TOKEN = re.compile(r"\w+|[^\w\s]")


class TextMasker(Masker):
    """Remove words from texts; the model takes a list (array) of strings.

    - `tokenizer`: "words" (split on white space, default), "tokens" (words and punctuation
      marks apart) or a callable `str -> list[str]`.
    - `mask_token`: None drops removed tokens; a string (e.g. "[MASK]", "UNK") takes their place.

    >>> masker = TextMasker()
    >>> texts = masker.check(["not a good film"])
    >>> f = masker.features(texts)
    >>> masker.mask(texts, f, torch.tensor([0, 0]), torch.tensor([[True, True, True, True], [False, True, True, True]])).tolist()
    ['not a good film', 'a good film']
    """

    kind = "text"

    def __init__(self, tokenizer: str | Callable[[str], list[str]] = "words", mask_token: str | None = None):
        if isinstance(tokenizer, str) and tokenizer not in ("words", "tokens"):
            raise InputError(f"tokenizer must be 'words', 'tokens' or a callable, got {tokenizer!r}")
        self.tokenizer, self.mask_token = tokenizer, mask_token

    def check(self, inputs: Any) -> np.ndarray:
        texts = [inputs] if isinstance(inputs, str) else inputs
        if isinstance(texts, np.ndarray):
            texts = texts.tolist()
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise InputError("text inputs must be a list of strings")
        if not texts:
            raise InputError("inputs is an empty list of texts: give at least one")
        for index, text in enumerate(texts):
            if not self.tokenize(text):
                raise InputError(f"text {index} ({text!r}) has no tokens to explain")
        return np.asarray(texts, dtype=str)

    def tokenize(self, text: str) -> list[str]:
        if callable(self.tokenizer):
            return list(self.tokenizer(text))
        return text.split() if self.tokenizer == "words" else _TOKEN.findall(text)

    def features(self, inputs: np.ndarray) -> Features:
        tokens = [self.tokenize(str(text)) for text in inputs]
        width = max(len(t) for t in tokens)
        table = np.full((len(tokens), width), "", dtype=object)
        for row, words in enumerate(tokens):
            table[row, : len(words)] = words
        return Features(counts=np.array([len(t) for t in tokens]), names=tokens, state={"tokens": table})

    def mask(self, inputs: np.ndarray, features: Features, rows: torch.Tensor, keep: torch.Tensor, out=None) -> np.ndarray:
        table = features.state["tokens"][rows.cpu().numpy()]
        kept = keep.cpu().numpy()
        replacement = "" if self.mask_token is None else self.mask_token
        words = np.where(kept, table, np.where(table == "", "", replacement))
        # Strings are built one per coalition: there is no array form of a sentence.
        return np.asarray([" ".join(w for w in row if w) for row in words], dtype=str)

    def sizing_sample(self, inputs: Any) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        tokenizer = self.tokenizer if isinstance(self.tokenizer, str) else getattr(self.tokenizer, "__name__", "callable")
        return {"masker": "text", "tokenizer": tokenizer, "mask_token": self.mask_token}
