"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, nothing to vendor.

Every piece of text (monitor names, terms, authors: public input) goes through ``format_html`` or
``escape``; numbers are formatted here. Each mark carries a ``<title>`` so hovering shows its value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2f6fba", "#d9822b", "#3a9d5d", "#c23b3b", "#7b57b5", "#8c6d3f", "#d45fa5", "#5f6b73", "#b5b52d", "#2ab0c4")
SENTIMENT_COLOURS = {"positive": "#3a9d5d", "neutral": "#b8bec4", "negative": "#c23b3b"}
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def colour(n: int) -> str:
    return PALETTE[n % len(PALETTE)]


def _svg(body: str, *, height: int = HEIGHT, label: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every part was built with format_html/escape
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _axes(days: Sequence[dt.date], top: float, *, suffix: str = "") -> str:
    bottom_y = HEIGHT - BOTTOM
    parts = [
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>', LEFT, bottom_y, WIDTH - RIGHT, bottom_y),
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>', LEFT, TOP, LEFT, bottom_y),
        format_html('<text x="{}" y="{}" text-anchor="end" font-size="11">0{}</text>', LEFT - 4, bottom_y, suffix),
        format_html(
            '<text x="{}" y="{}" text-anchor="end" font-size="11">{}{}</text>', LEFT - 4, TOP + 10, _num(top), suffix
        ),
    ]
    if days:
        picks = sorted({0, len(days) // 2, len(days) - 1})
        for n in picks:
            anchor = "start" if n == 0 else "end" if n == len(days) - 1 else "middle"
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="{}" font-size="11">{}</text>',
                    f"{_x(n, len(days)):.1f}",
                    HEIGHT - 8,
                    anchor,
                    days[n].isoformat(),
                )
            )
    return "".join(parts)


def _x(n: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * n / (count - 1) if count > 1 else span / 2)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(days: Sequence[dt.date], series: Sequence[tuple[str, Sequence[int]]], *, label: str) -> SafeString:
    """One line per series (mentions per day); the y axis runs from 0 to the highest value."""
    top = max((max(values, default=0) for _, values in series), default=0) or 1
    height = HEIGHT - TOP - BOTTOM
    parts = [_axes(days, top)]
    for n, (name, values) in enumerate(series):
        points = " ".join(
            f"{_x(i, len(values)):.1f},{HEIGHT - BOTTOM - height * value / top:.1f}" for i, value in enumerate(values)
        )
        parts.append(
            format_html(
                '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}: {} mentions</title>'
                "</polyline>",
                colour(n),
                points,
                name,
                f"{sum(values):,}",
            )
        )
    return _svg("".join(parts), label=label)


def share_chart(days: Sequence[dt.date], shares: Sequence[tuple[int, int, int]], *, label: str) -> SafeString:
    """A 100 % stacked bar per day: positive (bottom), neutral, negative (top); empty days stay blank."""
    height = HEIGHT - TOP - BOTTOM
    span = WIDTH - LEFT - RIGHT
    width = span / max(len(days), 1)
    parts = [_axes(days, 100, suffix=" %")]
    for n, (day, counts) in enumerate(zip(days, shares, strict=True)):
        total = sum(counts)
        if not total:
            continue
        y = float(HEIGHT - BOTTOM)
        title = ", ".join(
            f"{count / total:.0%} {name}"
            for name, count in zip(("positive", "neutral", "negative"), counts, strict=True)
        )
        for name, count in zip(("positive", "neutral", "negative"), counts, strict=True):
            bar = height * count / total
            y -= bar
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} of {}</title></rect>',
                    f"{LEFT + n * width:.2f}",
                    f"{y:.2f}",
                    f"{max(width - 0.5, 0.5):.2f}",
                    f"{bar:.2f}",
                    SENTIMENT_COLOURS[name],
                    day.isoformat(),
                    title,
                    f"{total:,}",
                )
            )
    return _svg("".join(parts), label=label)


def bar_list(items: Sequence[tuple[str, int, str]], *, label: str) -> SafeString:
    """Horizontal bars, one row each: (label, value, text shown after the bar)."""
    row, label_width = 22, 230
    height = max(len(items), 1) * row + 8
    top = max((value for _, value, _ in items), default=0) or 1
    span = WIDTH - label_width - 90
    parts = []
    for n, (name, value, shown) in enumerate(items):
        y = 4 + n * row
        short = name if len(name) <= 34 else name[:33] + "…"
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" font-size="12">{}<title>{}</title></text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" font-size="12">{}</text>',
                label_width - 6,
                y + 15,
                short,
                name,
                label_width,
                y + 3,
                f"{max(span * value / top, 1):.1f}",
                row - 6,
                colour(n) if label.startswith("Share") else PALETTE[0],
                name,
                shown,
                f"{label_width + max(span * value / top, 1) + 6:.1f}",
                y + 15,
                shown,
            )
        )
    return _svg("".join(parts), height=height, label=label)
