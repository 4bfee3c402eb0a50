"""SVG charts for the HTML report: lines, dots, shaded windows, marks (pure).

``line_chart`` returns one ``<svg>`` element as text (inline SVG, so the
report needs no script and no network). Every label is escaped. Time charts
shade each fault window (``Band``) and label it above the plot; ``Mark``
draws a labelled vertical line (a phase boundary, the capacity knee). The
report's drill charts (``capacity_chart``, ``reconnect_chart``) and the helpers of
its charts over time (``fault_bands``, ``phase_marks``; the charts themselves are in
``charts``) are at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT = 1100, 280
LEFT, RIGHT, BOTTOM = 70, 20, 42
LEGEND_H, LABEL_ROW_H = 24, 15
Y_TICKS = 4
CHAR_W = 6.6  # rough width of one character of the 11 px labels
BAND_COLOURS = {"kill": "#d1242f", "pause": "#bf3989", "latency": "#d4860b",
                "down": "#8250df", "reset_peer": "#0969da", "timeout": "#57606a"}
OTHER_BAND = "#9a6700"
BLUE, GREEN, RED, ORANGE, PURPLE = "#0969da", "#1a7f37", "#cf222e", "#d4860b", "#8250df"
POLICY_COLOURS = (BLUE, ORANGE, PURPLE, GREEN, RED, "#1b7c83", "#57606a")


@dataclass
class Line:
    name: str
    points: Sequence[tuple[float, float | None]]  # (x, y); y None breaks the line
    colour: str
    dashed: bool = False
    area: bool = False  # fill under the line
    dots: bool = False
    dot_colours: Sequence[str] | None = None  # one per point, for pass/fail dots


@dataclass
class Band:
    x0: float
    x1: float | None  # None: until the end of the chart
    label: str
    colour: str = OTHER_BAND
    title: str = ""  # hover text


@dataclass
class Mark:
    x: float
    label: str
    colour: str = "#57606a"


def band_colour(kind: str) -> str:
    return BAND_COLOURS.get(kind, OTHER_BAND)


def nice_step(span: float, count: int = 5, quarters: bool = True) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten; no 2.5 unless ``quarters``)
    giving about ``count`` ticks."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10) if quarters else (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def linear_ticks(lo: float, hi: float, count: int = 5, quarters: bool = True) -> list[float]:
    step = nice_step(hi - lo, count, quarters)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + step * 1e-6:
        out.append(round(v, 10))
        v += step
    return out


def fmt_number(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10_000 or (abs(v) >= 1000 and v % 1000 == 0):
        return f"{v / 1000:g}k"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3g}"


class _Scale:
    def __init__(self, lo: float, hi: float, px0: float, px1: float, log: bool = False):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.px0, self.px1 = px0, px1

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(max(v, 10 ** self.lo))
        span = self.hi - self.lo or 1.0
        return self.px0 + (v - self.lo) / span * (self.px1 - self.px0)


def _y_domain(values: list[float], y_min: float | None, log: bool) -> tuple[float, float, bool]:
    positive = [v for v in values if v > 0]
    if log and positive and max(positive) / min(positive) >= 30:
        return 10 ** math.floor(math.log10(min(positive))), \
            10 ** math.ceil(math.log10(max(positive))), True
    lo = min(values) if y_min is None else y_min
    hi = max(values) if values else 1.0
    if hi <= lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, Y_TICKS)  # the axis's own step, so the top gets a tick
    return lo, math.ceil(hi / step - 1e-9) * step, False


def _band_rows(bands: Sequence[Band], x: _Scale) -> list[int]:
    """Stack band labels in rows so that none overlaps the one before it in its row."""
    ends: list[float] = []
    rows = []
    for b in bands:
        left = min(x(b.x0), x.px1 - len(b.label) * CHAR_W - 4)
        row = next((i for i, end in enumerate(ends) if end < left), len(ends))
        right = left + len(b.label) * CHAR_W + 8
        if row == len(ends):
            ends.append(right)
        else:
            ends[row] = right
        rows.append(row)
    return rows


def line_chart(lines: Sequence[Line], *, x_max: float, x_min: float = 0.0,
               x_label: str = "seconds since the load started", y_label: str = "",
               bands: Sequence[Band] = (), marks: Sequence[Mark] = (),
               y_min: float | None = 0.0, log_y: bool = False,
               width: int = WIDTH, height: int = HEIGHT, aria: str = "chart") -> str:
    """One chart as inline SVG text. ``log_y`` switches to a log scale only when the
    values span at least 30x (latency p50 against p99 under faults)."""
    values = [y for ln in lines for _, y in ln.points if y is not None]
    if not values:
        return (f'<svg class="chart" viewBox="0 0 {width} 60" role="img" '
                f'aria-label="{escape(aria)}"><text x="{width / 2}" y="34" '
                'text-anchor="middle" class="empty">no data</text></svg>')
    y_lo, y_hi, log = _y_domain(values, y_min, log_y)
    x_hi = x_max if x_max > x_min else x_min + 1
    x = _Scale(x_min, x_hi, LEFT, width - RIGHT)
    rows = _band_rows(bands, x) if bands else []
    top = LEGEND_H + (max(rows) + 1) * LABEL_ROW_H + 4 if rows else LEGEND_H + 6
    bottom = height - BOTTOM
    y = _Scale(y_lo, y_hi, bottom, top, log)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(aria)}">']
    out += _axes(x, y, x_min, x_hi, y_lo, y_hi, log, top, bottom, width, height,
                 x_label, y_label)
    for b, row in zip(bands, rows, strict=True):
        out += _band(b, row, x, top, bottom)
    out += _marks(marks, x, top, bottom)
    for ln in lines:
        out += _line(ln, x, y, bottom)
    out += _legend(lines, bands)
    out.append("</svg>")
    return "\n".join(out)


def _axes(x: _Scale, y: _Scale, x_min: float, x_hi: float, y_lo: float, y_hi: float,
          log: bool, top: float, bottom: float, width: int, height: int,
          x_label: str, y_label: str) -> list[str]:
    out = [f'<rect x="{LEFT}" y="{top}" width="{width - LEFT - RIGHT}" '
           f'height="{bottom - top}" class="plot"/>']
    if log:
        y_ticks = [10.0 ** k for k in range(round(math.log10(y_lo)), round(math.log10(y_hi)) + 1)]
    else:
        y_ticks = linear_ticks(y_lo, y_hi, Y_TICKS)
    for v in y_ticks:
        py = y(v)
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" '
                   'class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" '
                   f'class="tick">{fmt_number(v)}</text>')
    for v in linear_ticks(x_min, x_hi, 10, quarters=False):
        px = x(v)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{bottom}" y2="{bottom + 4}" '
                   'class="axis"/>')
        out.append(f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle" '
                   f'class="tick">{fmt_number(v)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{bottom}" y2="{bottom}" '
               'class="axis"/>')
    out.append(f'<text x="{(LEFT + width - RIGHT) / 2}" y="{height - 6}" '
               f'text-anchor="middle" class="axis-label">{escape(x_label)}</text>')
    if y_label:
        scale = " (log scale)" if log else ""
        out.append(f'<text transform="translate(14 {(top + bottom) / 2:.0f}) rotate(-90)" '
                   f'text-anchor="middle" class="axis-label">{escape(y_label + scale)}</text>')
    return out


def _band(b: Band, row: int, x: _Scale, top: float, bottom: float) -> list[str]:
    x0 = x(b.x0)
    x1 = x.px1 if b.x1 is None else max(x(b.x1), x0 + 2)
    label_y = LEGEND_H + row * LABEL_ROW_H + 11
    title = f"<title>{escape(b.title or b.label)}</title>"
    return [f'<g class="band">{title}',
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{bottom - top}" '
            f'fill="{b.colour}" fill-opacity="0.13"/>',
            f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="{label_y - 9}" y2="{bottom}" '
            f'stroke="{b.colour}" stroke-opacity="0.7"/>',
            f'<text x="{min(x0 + 3, x.px1 - len(b.label) * CHAR_W):.1f}" y="{label_y}" '
            'class="band-label" '
            f'fill="{b.colour}">{escape(b.label)}</text></g>']


def _segments(ln: Line, x: _Scale, y: _Scale) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for px, py in ln.points:
        if py is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x(px), y(py)))
    return [s for s in segments if s]


def _isolated(points: Sequence[tuple[float, float | None]]) -> set[int]:
    """Points with no neighbour to draw a line to: they get a dot."""
    def has(i: int) -> bool:
        return 0 <= i < len(points) and points[i][1] is not None
    return {i for i in range(len(points)) if has(i) and not has(i - 1) and not has(i + 1)}


def _marks(marks: Sequence[Mark], x: _Scale, top: float, bottom: float) -> list[str]:
    """Dashed verticals; labels right of the line (left of it near the right edge), stacked
    so that two close marks do not write over each other."""
    out: list[str] = []
    ends: list[float] = []
    for m in sorted(marks, key=lambda m: m.x):
        px = x(m.x)
        width = len(m.label) * CHAR_W + 6
        left_side = px + width > x.px1
        lo, hi = (px - width, px) if left_side else (px, px + width)
        row = next((i for i, end in enumerate(ends) if end < lo), len(ends))
        if row == len(ends):
            ends.append(hi)
        else:
            ends[row] = hi
        tx, anchor = (px - 4, "end") if left_side else (px + 4, "start")
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}" '
                   f'stroke="{m.colour}" stroke-width="1.5" stroke-dasharray="5 3"/>')
        out.append(f'<text x="{tx:.1f}" y="{top + 12 + row * 13}" class="mark" '
                   f'text-anchor="{anchor}" fill="{m.colour}">{escape(m.label)}</text>')
    return out


def _line(ln: Line, x: _Scale, y: _Scale, bottom: float) -> list[str]:
    out = []
    dash = ' stroke-dasharray="6 4"' if ln.dashed else ""
    for seg in _segments(ln, x, y):
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in seg)
        if ln.area:
            poly = f"{seg[0][0]:.1f},{bottom} {pts} {seg[-1][0]:.1f},{bottom}"
            out.append(f'<polygon points="{poly}" fill="{ln.colour}" fill-opacity="0.12"/>')
        if len(seg) > 1:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{ln.colour}" '
                       f'stroke-width="2" stroke-linejoin="round"{dash}/>')
    lonely = _isolated(ln.points)
    if ln.dots or lonely:
        for i, (px, py) in enumerate(ln.points):
            if py is None or not (ln.dots or i in lonely):
                continue
            colour = ln.dot_colours[i] if ln.dot_colours else ln.colour
            r = 5 if ln.dots else 2.5
            out.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="{r}" fill="{colour}">'
                       f'<title>{escape(ln.name)}: {fmt_number(py)} at '
                       f'{fmt_number(px)}</title></circle>')
    return out


def _legend(lines: Sequence[Line], bands: Sequence[Band]) -> list[str]:
    out, cx = [], float(LEFT)
    for ln in lines:
        dash = ' stroke-dasharray="6 4"' if ln.dashed else ""
        out.append(f'<line x1="{cx:.0f}" x2="{cx + 22:.0f}" y1="12" y2="12" '
                   f'stroke="{ln.colour}" stroke-width="3"{dash}/>')
        out.append(f'<text x="{cx + 28:.0f}" y="16" class="legend">{escape(ln.name)}</text>')
        cx += 28 + len(ln.name) * CHAR_W + 22
    if bands:
        out.append(f'<rect x="{cx:.0f}" y="5" width="22" height="14" fill="{OTHER_BAND}" '
                   'fill-opacity="0.2"/>')
        out.append(f'<text x="{cx + 28:.0f}" y="16" class="legend">fault window</text>')
    return out


# The report's charts, built on line_chart.

def fault_bands(faults: Sequence[dict[str, Any]]) -> list[Band]:
    """One shaded band per fault window ``{kind, target, at_s, until_s}`` with a start."""
    out = []
    for f in faults:
        start, until = f.get("at_s"), f.get("until_s")
        if not isinstance(start, int | float):
            continue
        label = f"{f.get('kind')} {f.get('target')}"
        end = f"{until:.1f} s" if isinstance(until, int | float) else "the end"
        out.append(Band(start, until, label, band_colour(str(f.get("kind"))),
                        f"{label}: {start:.1f} s to {end}"))
    return out


def phase_marks(phases: dict[str, Any]) -> list[Mark]:
    marks = []
    for name, key, label in (("load", "end_s", "load ends"), ("audit", "start_s", "audit")):
        at = (phases.get(name) or {}).get(key)
        if isinstance(at, int | float):
            marks.append(Mark(at, label))
    return marks


def knee_index(steps: Sequence[dict[str, Any]]) -> int | None:
    """The last step that passed before the first that did not (None: the first failed)."""
    knee = None
    for i, step in enumerate(steps):
        if not step.get("passed"):
            break
        knee = i
    return knee


def capacity_chart(steps: Sequence[dict[str, Any]], knee: int | None) -> str:
    """msgs/s against users, a green or red dot per step, the knee marked."""
    pts = [(float(s.get("users") or 0), s.get("msgs_per_s")) for s in steps]
    colours = [GREEN if s.get("passed") else RED for s in steps]
    marks = []
    if knee is not None:
        label = "knee" if knee < len(steps) - 1 else "highest tested (all passed)"
        marks.append(Mark(pts[knee][0], f"{label}: {steps[knee].get('users')} users", GREEN))
    return line_chart([Line("msgs / s", pts, BLUE, dots=True, dot_colours=colours)],
                      x_max=max(p[0] for p in pts) * 1.05, x_label="users",
                      y_label="messages / s", marks=marks, aria="capacity")


def reconnect_curves(curves: dict[Any, Any]) -> dict[str, list[tuple[float, float]]]:
    """``{policy: [(t_s, fraction) or {"t_s", "back"}, ...]}`` as (t, fraction) lists, each
    held at its last value up to the longest one's end."""
    named: dict[str, list[tuple[float, float]]] = {}
    for name, points in curves.items():
        named[str(name)] = [(float(p["t_s"]), float(p["back"])) if isinstance(p, dict)
                            else (float(p[0]), float(p[1])) for p in points or []]
    end = max((c[-1][0] for c in named.values() if c), default=1.0)
    for c in named.values():
        if c and c[-1][0] < end:
            c.append((end, c[-1][1]))
    return named


def reconnect_chart(named: dict[str, list[tuple[float, float]]]) -> str:
    lines = [Line(name, [(t, f * 100) for t, f in c], POLICY_COLOURS[i % len(POLICY_COLOURS)])
             for i, (name, c) in enumerate(named.items())]
    end = max((c[-1][0] for c in named.values() if c), default=1.0)
    return line_chart(lines, x_max=end, x_label="seconds since the node was killed",
                      y_label="% of thrown-off devices back", aria="avalanche")
