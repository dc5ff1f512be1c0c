"""Self-contained HTML report pages (the audit report and the gallery render with these).

>>> from unboxed.report import Page
>>> page = Page("Audit of model.onnx")
>>> page.section("findings", "Findings").callout("No problem found.", "ok")
Section('findings', 1 block)
"""
from .page import Details, Page, Section
from .tables import format_number, format_value, table_html

__all__ = ["Details", "Page", "Section", "format_number", "format_value", "table_html"]
