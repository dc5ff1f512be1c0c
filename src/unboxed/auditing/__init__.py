"""The audit: one call (or `unboxed audit`) that writes a report on what a model relies on, why it
decided as it did on chosen cases, and how far each of those explanations can be trusted."""
from .plan import AuditSettings
from .result import Audit
from .run import audit
from .subject import Subject

__all__ = ["Audit", "AuditSettings", "Subject", "audit"]
