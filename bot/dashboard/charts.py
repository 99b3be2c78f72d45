"""Charts as inline SVG, drawn in Python: no JavaScript, no CDN, nothing to download.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` (what screen
readers announce), a `<title>` on every point and bar (the browser's tooltip), and
colours from the Okabe–Ito palette, which colour-blind readers can tell apart.
The numbers themselves are always in a table next to the chart (bot.dashboard.panels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 64
LEGEND_ROW = 16
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
AXIS, GRID, INK = "#444444", "#dddddd", "#222222"


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]  # one per x label; None: nothing to show there
    notes: tuple[str, ...] = ()  # the tooltip of each point, e.g. "3 of 4"


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    count: int  # drawn as the point's area
    note: str


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def plain(value: float) -> str:
    return f"{value:g}"


def count_axis(value: float) -> tuple[float, float]:
    """(top, step) of an axis of counts: a step of 1, 2 or 5 × 10^k giving at most 5
    ticks above zero, and the top, a whole number of steps at or above `value`."""
    step = 1.0
    while math.ceil(value / step) > 5:
        power = 10.0 ** math.floor(math.log10(step) + 1e-9)
        step = {1: 2, 2: 5, 5: 10}[round(step / power)] * power
    return step * max(math.ceil(value / step), 1), step


class _Canvas:
    def __init__(
        self, chart_id: str, title: str, description: str, legend: Sequence[str] = ()
    ) -> None:
        self.id = chart_id
        self.legend = _legend_rows(legend)
        height = HEIGHT + LEGEND_ROW * max(len(self.legend) - 1, 0)
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
            f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
            f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
            f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        ]
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def y(self, value: float, top: float) -> float:
        return TOP + self.plot_h * (1 - value / top)

    def y_axis(self, top: float, step: float, fmt: Callable[[float], str], label: str) -> None:
        for i in range(round(top / step) + 1):
            value = step * i
            y = self.y(value, top)
            self.parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{GRID}" stroke-width="1"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                f'fill="{INK}">{escape(fmt(value))}</text>'
            )
        self.parts.append(
            f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + self.plot_h}" stroke="{AXIS}"/>'
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + self.plot_h}" '
            f'y2="{TOP + self.plot_h}" stroke="{AXIS}"/>'
            f'<text transform="translate(12 {TOP + self.plot_h / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle" font-size="11" fill="{INK}">{escape(label)}</text>'
        )

    def x_labels(self, labels: Sequence[str], centres: Sequence[float]) -> None:
        step = max(1, math.ceil(len(labels) / 12))  # at most about 12 labels fit
        base = TOP + self.plot_h
        for i, (label, x) in enumerate(zip(labels, centres, strict=True)):
            if i % step:
                continue
            self.parts.append(
                f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" font-size="11" '
                f'fill="{INK}">{escape(label)}</text>'
            )

    def x_title(self, label: str) -> None:
        self.parts.append(
            f'<text x="{LEFT + self.plot_w / 2:.0f}" y="{TOP + self.plot_h + 32}" '
            f'text-anchor="middle" font-size="11" fill="{INK}">{escape(label)}</text>'
        )

    def draw_legend(self, colours: Sequence[str] = PALETTE) -> None:
        index = 0
        for row, names in enumerate(self.legend):
            x, y = float(LEFT), TOP + self.plot_h + 42 + LEGEND_ROW * row
            for name in names:
                colour = colours[index % len(colours)]
                self.parts.append(
                    f'<rect x="{x:.0f}" y="{y}" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{x + 14:.0f}" y="{y + 9}" font-size="11" fill="{INK}">'
                    f"{escape(name)}</text>"
                )
                x += _legend_width(name)
                index += 1

    def empty(self, message: str) -> None:
        self.parts.append(
            f'<text x="{LEFT + self.plot_w / 2:.0f}" y="{TOP + self.plot_h / 2:.0f}" '
            f'text-anchor="middle" font-size="14" fill="{AXIS}">{escape(message)}</text>'
        )

    def done(self) -> Markup:
        return Markup("".join([*self.parts, "</svg>"]))  # every text in it went through escape()


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str = "",
) -> Markup:
    """Rates (0..1) per x label, one line per series; a gap where a value is None."""
    canvas = _Canvas(chart_id, title, description, [s.name for s in series])
    canvas.y_axis(1.0, 0.25, percent, y_label)
    slot = canvas.plot_w / max(len(labels), 1)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    canvas.x_labels(labels, centres)
    canvas.x_title(x_label)
    if not any(v is not None for s in series for v in s.values):
        canvas.empty("no decided suggestions in this period")
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        canvas.parts.append(f'<g class="series" data-series="{escape(line.name)}">')
        canvas.parts.append(f"<title>{escape(line.name)}</title>")
        points = [
            (centres[i], canvas.y(v, 1.0), i) for i, v in enumerate(line.values) if v is not None
        ]
        runs: list[list[tuple[float, float, int]]] = []
        for point in points:
            if runs and runs[-1][-1][2] == point[2] - 1:
                runs[-1].append(point)
            else:
                runs.append([point])
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in run)
                canvas.parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        for x, y, i in points:
            note = line.notes[i] if i < len(line.notes) else ""
            tip = f"{line.name}, {labels[i]}: {percent(line.values[i] or 0.0)} {note}".strip()
            canvas.parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        canvas.parts.append("</g>")
    canvas.draw_legend()
    return canvas.done()


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    y_label: str,
    x_label: str = "",
    highlight: Sequence[float] | None = None,
    highlight_name: str = "",
    empty: str = "nothing in this period",
) -> Markup:
    """One bar per label; `highlight` overlays a second, smaller value on each bar (e.g.
    the failed runs of a day's runs)."""
    legend = [y_label, highlight_name] if highlight is not None else []
    canvas = _Canvas(chart_id, title, description, legend)
    top, step = count_axis(max([*values, *(highlight or ())], default=0))
    canvas.y_axis(top, step, plain, y_label)
    slot = canvas.plot_w / max(len(labels), 1)
    width = max(slot * 0.7, 1.0)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    canvas.x_labels(labels, centres)
    canvas.x_title(x_label)
    if not any(values):
        canvas.empty(empty)
    # the highlight is drawn narrower, over its bar, so that both stay visible
    layers = [(values, PALETTE[0], y_label, width)]
    if highlight is not None:
        layers.append((highlight, PALETTE[4], highlight_name, width / 2))
    for layer_values, colour, name, bar in layers:
        canvas.parts.append(f'<g class="bars" data-series="{escape(name)}">')
        for label, x, value in zip(labels, centres, layer_values, strict=True):
            if not value:
                continue
            y = canvas.y(value, top)
            canvas.parts.append(
                f'<rect x="{x - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{TOP + canvas.plot_h - y:.1f}" fill="{colour}">'
                f"<title>{escape(f'{label}: {plain(value)} {name}')}</title></rect>"
            )
        canvas.parts.append("</g>")
    canvas.draw_legend(colours=(PALETTE[0], PALETTE[4]))
    return canvas.done()


def calibration_plot(
    chart_id: str, title: str, description: str, points: Sequence[Point]
) -> Markup:
    """Score (x, 0..1) against observed acceptance (y, 0..1), with the diagonal a perfectly
    calibrated score would lie on; each point's area grows with its count."""
    canvas = _Canvas(chart_id, title, description)
    canvas.y_axis(1.0, 0.25, percent, "observed acceptance")
    canvas.x_title("reliability score")

    def x_of(value: float) -> float:
        return LEFT + canvas.plot_w * value

    for i in range(11):
        x = x_of(i / 10)
        canvas.parts.append(
            f'<text x="{x:.1f}" y="{TOP + canvas.plot_h + 16}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{i / 10:.1f}</text>'
        )
    canvas.parts.append(
        f'<line class="diagonal" x1="{x_of(0):.1f}" y1="{canvas.y(0, 1):.1f}" '
        f'x2="{x_of(1):.1f}" y2="{canvas.y(1, 1):.1f}" stroke="{AXIS}" stroke-dasharray="4 4">'
        "<title>perfect calibration: acceptance equals the score</title></line>"
    )
    if not points:
        canvas.empty("no decided suggestions in this period")
    largest = max((p.count for p in points), default=1)
    for point in points:
        radius = 3 + 9 * math.sqrt(point.count / largest)
        canvas.parts.append(
            f'<circle cx="{x_of(point.x):.1f}" cy="{canvas.y(point.y, 1):.1f}" '
            f'r="{radius:.1f}" fill="{PALETTE[0]}" fill-opacity="0.7" stroke="{PALETTE[0]}">'
            f"<title>{escape(point.note)}</title></circle>"
        )
    return canvas.done()


def _legend_width(name: str) -> float:
    return 26 + 6.5 * len(name)  # 11 px text is about 6.5 px a character


def _legend_rows(names: Sequence[str]) -> list[list[str]]:
    rows: list[list[str]] = []
    x = float(WIDTH)
    for name in names:
        if x + _legend_width(name) > WIDTH - RIGHT:
            rows.append([])
            x = LEFT
        rows[-1].append(name)
        x += _legend_width(name)
    return rows
