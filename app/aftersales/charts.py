"""Server-rendered SVG charts for the daily report page (no JavaScript, printable)."""

from __future__ import annotations

from html import escape

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#64748b")


def bar_chart(
    items: list[tuple[str, float]], title: str, width: int = 560, height: int = 220, unit: str = ""
) -> str:
    """Vertical bars with labels under them and values on top."""
    top, bottom, left, right = 40, 36, 28, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _, v in items), default=0) or 1
    n = max(len(items), 1)
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
    ]
    small = n > 12
    for i, (label, value) in enumerate(items):
        h = plot_h * (value / peak)
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h - h
        colour = PALETTE[i % len(PALETTE)] if not small else PALETTE[0]
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}" rx="2">'
            f"<title>{escape(label)}：{value:g}{escape(unit)}</title></rect>"
        )
        if value and (not small or value == peak or n <= 24):
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" class="chart-value" '
                f'text-anchor="middle">{value:g}</text>'
            )
        if not small or i % 3 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" class="chart-label" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(items: list[tuple[str, float]], title: str, width: int = 560, height: int = 90) -> str:
    """One horizontal bar split by share (e.g. cooperation distribution), with a legend."""
    total = sum(v for _, v in items) or 1
    left, top, bar_h = 8, 28, 22
    plot_w = width - 2 * left
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    x = float(left)
    for i, (label, value) in enumerate(items):
        w = plot_w * value / total
        if w > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{PALETTE[i % len(PALETTE)]}">'
                f"<title>{escape(label)}：{value:g}</title></rect>"
            )
        x += w
    lx = float(left)
    for i, (label, value) in enumerate(items):
        parts.append(
            f'<rect x="{lx:.1f}" y="{top + bar_h + 12}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        )
        text = f"{label} {value:g}（{100 * value / total:.0f}%）"
        parts.append(
            f'<text x="{lx + 14:.1f}" y="{top + bar_h + 21}" class="chart-label">{escape(text)}</text>'
        )
        lx += 14 + 13 * len(text) * 0.75
    parts.append("</svg>")
    return "".join(parts)
