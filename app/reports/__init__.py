"""Reports: the mail registry as CSV and PDF files, outgoing letters as PDF.

Pure Python on purpose (no Flask, nothing else from ``app``): callers pass
already-translated labels and already-formatted cell values.
"""

from .fonts import FontMissing, find_fallback_fonts, find_font
from .register_csv import render_register_csv
from .register_pdf import render_register_pdf
from .reply_pdf import render_reply_pdf

__all__ = [
    "FontMissing",
    "find_fallback_fonts",
    "find_font",
    "render_register_csv",
    "render_register_pdf",
    "render_reply_pdf",
]
