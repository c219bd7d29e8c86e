"""A small grouped bar chart rendered as inline SVG on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756")


@dataclass(frozen=True)
class BarChart:
    title: str
    groups: Sequence[str]  # one cluster of bars per group (x axis)
    series: Sequence[str]  # one bar per series in each group (legend)
    values: Sequence[Sequence[float]]  # values[group][series]
    width: int = 560
    height: int = 300

    def svg(self) -> Markup:
        left, right, top, bottom = 48, 16, 40, 56
        plot_w = self.width - left - right
        plot_h = self.height - top - bottom
        peak = max((v for row in self.values for v in row), default=0) or 1
        group_w = plot_w / max(len(self.groups), 1)
        bar_w = group_w * 0.8 / max(len(self.series), 1)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
            f'width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}">',
            f"<title>{escape(self.title)}</title>",
            f'<text x="{self.width / 2:.0f}" y="20" text-anchor="middle" class="chart-title">'
            f"{escape(self.title)}</text>",
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
        ]
        for g, (group, row) in enumerate(zip(self.groups, self.values, strict=True)):
            x0 = left + g * group_w + group_w * 0.1
            for s, value in enumerate(row):
                h = plot_h * float(value) / peak
                x = x0 + s * bar_w
                y = top + plot_h - h
                colour = PALETTE[s % len(PALETTE)]
                label = f"{group}, {self.series[s]}: {value:g}"
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{escape(label)}</title></rect>'
                )
                parts.append(
                    f'<text x="{x + (bar_w - 2) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                    f'class="bar-value">{value:g}</text>'
                )
            parts.append(
                f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{top + plot_h + 18}" '
                f'text-anchor="middle">{escape(group)}</text>'
            )
        for s, name in enumerate(self.series):
            x = left + s * 170
            y = self.height - 14
            parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[s % 4]}"/>')
            parts.append(f'<text x="{x + 18}" y="{y}">{escape(name)}</text>')
        parts.append("</svg>")
        return Markup("".join(parts))


def outcome_chart(confusion: dict[str, int]) -> BarChart:
    """Rows per true outcome, split by what the model predicted."""
    return BarChart(
        title="True outcome vs predicted outcome (whole data set)",
        groups=("true: no diabetes (0)", "true: diabetes (1)"),
        series=("predicted 0", "predicted 1"),
        values=((confusion["tn"], confusion["fp"]), (confusion["fn"], confusion["tp"])),
    )
