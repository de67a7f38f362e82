"""Charts as server-rendered SVG, framework-free: grouped columns over time, horizontal bars for
a breakdown, and a share as a filled bar.

Everything is laid out in logical coordinates (distance from the inline start edge) and mirrored
for right-to-left, with `direction="rtl"` on the root: the time axis then runs right to left, the
value axis stands on the right, and `text-anchor="start"` means the right edge of a label, as it
does for Arabic text. Labels are SVG <text>, so the browser shapes Arabic. Colours come from
classes (the stylesheet) with presentation attributes as a fallback: no style attribute, which
the strict CSP would refuse. Each chart is role="img" with a <title>; the page shows the same
numbers in a table beside it.

Callers pass labels and value texts already formatted for the reader's locale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "Series", "bar_list", "column_chart", "nice_ticks", "share_bar"]

PALETTE = ("#0b6e4f", "#c58a00", "#3a6ea5", "#a4262c")
FONT_SIZE = 12
CHAR_WIDTH = 7  # rough advance of a 12 px glyph, to keep labels apart
_FILLS = {f"series-{k}": colour for k, colour in enumerate(PALETTE)}


@dataclass(frozen=True)
class Series:
    """One series of a column chart: its legend label and one value per bucket."""

    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class Bar:
    """One row of a horizontal bar list: its label, value and the value as the reader reads it."""

    label: str
    value: float
    text: str


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class _Canvas:
    """Collects SVG elements; x is logical (from the start edge) and mirrored when rtl."""

    def __init__(self, width: int, height: int, rtl: bool) -> None:
        self.width, self.height, self.rtl = width, height, rtl
        self.parts: list[str] = []

    def x(self, logical: float) -> float:
        return self.width - logical if self.rtl else logical

    def rect(self, start: float, y: float, inline: float, block: float, css: str, tip: str = ""):
        left = self.x(start + inline) if self.rtl else start
        fill = _FILLS.get(css, "#d7dde4")
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<rect class="{css}" x="{_num(left)}" y="{_num(y)}" width="{_num(max(inline, 0))}" '
            f'height="{_num(max(block, 0))}" fill="{fill}">{title}</rect>'
        )

    def line(self, start: float, y1: float, end: float, y2: float, css: str) -> None:
        self.parts.append(
            f'<line class="{css}" x1="{_num(self.x(start))}" y1="{_num(y1)}" '
            f'x2="{_num(self.x(end))}" y2="{_num(y2)}" stroke="#d7dde4"/>'
        )

    def text(self, at: float, y: float, content: str, anchor: str, css: str = "chart-label"):
        self.parts.append(
            f'<text class="{css}" x="{_num(self.x(at))}" y="{_num(y)}" '
            f'text-anchor="{anchor}" font-size="{FONT_SIZE}" fill="#1d2733">'
            f"{escape(content)}</text>"
        )

    def svg(self, title: str, chart_id: str, css: str) -> str:
        direction = "rtl" if self.rtl else "ltr"
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" role="img" '
            f'id="{_attr(chart_id)}" aria-labelledby="{_attr(chart_id)}-title" '
            f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
            f'height="{self.height}" direction="{direction}" '
            f'preserveAspectRatio="xMidYMid meet" font-family="sans-serif">'
            f'<title id="{_attr(chart_id)}-title">{escape(title)}</title>'
            + "".join(self.parts)
            + "</svg>"
        )


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round steps (1, 2 or 5 times a power of ten, whole numbers for counts) from 0 to at
    least the maximum."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1) if maximum >= 1 else step
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def column_chart(
    bucket_labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    chart_id: str,
    rtl: bool,
    value_text: Callable[[float], str] = lambda v: _num(v),
    width: int = 720,
    height: int = 300,
) -> str:
    """Grouped columns, one group per bucket in time order from the start edge, a legend on top."""
    canvas = _Canvas(width, height, rtl)
    maximum = max((v for s in series for v in s.values), default=0)
    ticks = nice_ticks(maximum)
    axis_width = max(len(value_text(t)) for t in ticks) * CHAR_WIDTH + 12
    top, bottom = 34, height - 28
    plot_start, plot_end = axis_width, width - 8

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    for tick in ticks:
        canvas.line(plot_start, y_of(tick), plot_end, y_of(tick), "chart-grid")
        canvas.text(plot_start - 6, y_of(tick) + 4, value_text(tick), "end", "chart-tick")
    _legend(canvas, series, plot_start)
    buckets = len(bucket_labels)
    if buckets:
        slot = (plot_end - plot_start) / buckets
        bar = slot * 0.8 / max(len(series), 1)
        every = max(1, math.ceil(max(len(label) for label in bucket_labels) * CHAR_WIDTH / slot))
        for i, label in enumerate(bucket_labels):
            start = plot_start + i * slot + slot * 0.1
            for k, serie in enumerate(series):
                value = serie.values[i]
                tip = f"{label} — {serie.label}: {value_text(value)}"
                canvas.rect(
                    start + k * bar,
                    y_of(value),
                    bar,
                    bottom - y_of(value),
                    f"series-{k % len(PALETTE)}",
                    tip,
                )
            if i % every == 0:
                canvas.text(plot_start + (i + 0.5) * slot, bottom + 16, label, "middle")
    canvas.line(plot_start, bottom, plot_end, bottom, "chart-axis")
    return canvas.svg(title, chart_id, "column-chart")


def _legend(canvas: _Canvas, series: Sequence[Series], start: float) -> None:
    at = start
    for k, serie in enumerate(series):
        canvas.rect(at, 10, 12, 12, f"series-{k % len(PALETTE)}")
        canvas.text(at + 18, 21, serie.label, "start", "chart-legend")
        at += 18 + len(serie.label) * CHAR_WIDTH + 24


def bar_list(
    bars: Sequence[Bar],
    *,
    title: str,
    chart_id: str,
    rtl: bool,
    width: int = 640,
    row_height: int = 26,
) -> str:
    """One horizontal bar per row, growing from the labels towards the inline end, the value
    written after the bar."""
    longest_label = max((len(b.label) for b in bars), default=0)
    longest_text = max((len(b.text) for b in bars), default=0)
    label_width = min(longest_label * CHAR_WIDTH + 12, int(width * 0.42))
    room = width - label_width - longest_text * CHAR_WIDTH - 16
    canvas = _Canvas(width, max(len(bars), 1) * row_height + 8, rtl)
    maximum = max((b.value for b in bars), default=0) or 1
    for i, item in enumerate(bars):
        y = 4 + i * row_height
        label = item.label
        if len(label) * CHAR_WIDTH > label_width - 12:  # keep it off the bar
            label = label[: max((label_width - 12) // CHAR_WIDTH - 1, 1)] + "…"
        canvas.text(4, y + row_height * 0.65, label, "start")
        length = room * item.value / maximum
        canvas.rect(label_width, y + 4, length, row_height - 8, "series-0", item.label)
        canvas.text(label_width + length + 6, y + row_height * 0.65, item.text, "start")
    return canvas.svg(title, chart_id, "bar-list")


def share_bar(
    share: float | None,
    text: str,
    *,
    title: str,
    chart_id: str,
    rtl: bool,
    width: int = 200,
    height: int = 14,
) -> str:
    """A share (0 to 1) as a track filled from the start edge; no share, an empty track."""
    canvas = _Canvas(width, height, rtl)
    canvas.rect(0, 0, width, height, "share-track")
    if share is not None:
        filled = width * min(max(share, 0.0), 1.0)
        canvas.rect(0, 0, filled, height, "series-0", text)
    return canvas.svg(title, chart_id, "share-bar")
