"""Evaluation: how far an explanation can be trusted, measured the same way for every method."""
from .base import CATEGORIES, Metric, MetricResult, get_metric, metrics, register_metric

__all__ = ["CATEGORIES", "Metric", "MetricResult", "get_metric", "metrics", "register_metric"]
