"""Maskers: how a feature is removed, shared by every perturbation method."""
from .base import Features, Masker
from .image import ImageMasker
from .tabular import TabularMasker
from .text import TextMasker

__all__ = ["Features", "ImageMasker", "Masker", "TabularMasker", "TextMasker"]
