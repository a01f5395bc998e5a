"""Server-rendered SVG trend chart (no chart library, no internet)."""
# ruff: noqa: E501

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD_L, PAD_B, PAD_T = 640, 180, 32, 24, 12


def trend_svg(trend: list[dict[str, Any]], title: str) -> str:
    n = max(len(trend), 1)
    highest = max([max(d["created"], d["cancelled"]) for d in trend] + [1])
    top = max(4, -(-highest // 4) * 4)  # whole-number grid lines
    plot_w, plot_h = WIDTH - PAD_L - 8, HEIGHT - PAD_B - PAD_T
    slot = plot_w / n
    bar = max(2.0, slot * 0.35)
    parts = [
        f'<svg class="alert-trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = top * i / 4
        y = PAD_T + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#64748b">{value:.0f}</text>'
        )
    step = 1 if n <= 10 else 5
    for i, day in enumerate(trend):
        x = PAD_L + slot * i + slot / 2
        h_created = plot_h * day["created"] / top
        h_cancel = plot_h * day["cancelled"] / top
        label = f"{day['date']}：新增 {day['created']}，取消 {day['cancelled']}，P0 {day['p0']}"
        parts.append(
            f"<g><title>{escape(label)}</title>"
            f'<rect x="{x - bar:.1f}" y="{PAD_T + plot_h - h_created:.1f}" width="{bar:.1f}" height="{h_created:.1f}" fill="#2563eb"/>'
            f'<rect x="{x:.1f}" y="{PAD_T + plot_h - h_cancel:.1f}" width="{bar:.1f}" height="{h_cancel:.1f}" fill="#94a3b8"/></g>'
        )
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle" fill="#64748b">{day["date"][5:]}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
