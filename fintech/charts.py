"""Small server-side charts for the staff screens: inline SVG, no script, no CDN.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a text description of the values, so
a screen reader reads the numbers; colours are presentation attributes (the CSP forbids inline
style) and pass WCAG contrast against the admin's white background.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_COLOUR = "#205067"  # the admin's dark teal: 9.6:1 on white
MUTED = "#595959"  # 7:1 on white


def bar_chart(
    *, title: str, labels: Sequence[str], values: Sequence[float | None], unit: str = "", width: int = 360
) -> SafeString:
    """Vertical bars, one per label; ``None`` is drawn as "no data" (not as zero)."""
    height, top, bottom = 120, 16, 22
    count = max(len(values), 1)
    slot = width / count
    known = [v for v in values if v is not None]
    peak = max([*known, 1.0])
    plot = height - top - bottom
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = index * slot + slot * 0.15
        bar_width = slot * 0.7
        text = "no data" if value is None else f"{value:g}{unit}"
        if value is not None:
            bar_height = max(plot * value / peak, 1.0)
            y = top + plot - bar_height
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"></rect>',
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar_width:.1f}",
                    f"{bar_height:.1f}",
                    BAR_COLOUR,
                )
            )
        bars.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{}">{}</text>'
                '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{}">{}</text>',
                f"{x + bar_width / 2:.1f}",
                f"{(top + plot - (plot * value / peak if value else 0)) - 3:.1f}",
                MUTED,
                text,
                f"{x + bar_width / 2:.1f}",
                height - 6,
                MUTED,
                label,
            )
        )
    description = "; ".join(
        f"{label}: {'no data' if value is None else f'{value:g}{unit}'}"
        for label, value in zip(labels, values, strict=True)
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {} {}" width="{}" height="{}" aria-label="{}">'
        "<title>{}</title><desc>{}</desc>{}</svg>",
        width,
        height,
        width,
        height,
        f"{title}. {description}",
        title,
        description,
        format_html_join("", "{}", ((bar,) for bar in bars)),
    )


def sparkline(*, title: str, values: Sequence[int], width: int = 120, height: int = 28) -> SafeString:
    """A line of counts over time (oldest first), labelled with its values for screen readers."""
    peak = max([*values, 1])
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - 2 - (height - 4) * value / peak:.1f}" for index, value in enumerate(values)
    )
    description = ", ".join(str(value) for value in values)
    return format_html(
        '<svg class="sparkline" role="img" viewBox="0 0 {} {}" width="{}" height="{}" aria-label="{}">'
        '<title>{}</title><polyline points="{}" fill="none" stroke="{}" stroke-width="2"></polyline></svg>',
        width,
        height,
        width,
        height,
        f"{title}: {description}",
        title,
        points,
        BAR_COLOUR,
    )
