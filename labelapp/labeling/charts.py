"""The project dashboard: its numbers (from the selectors) and small inline SVG charts drawn server-side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from labelapp.labeling import selectors
from labelapp.labeling.presenters import classes, page_config
from labelapp.projects.models import Project

PALETTE = {"human": "#2f6fed", "pseudo": "#1a7f37", "rejected": "#c62828", "holdout": "#8e44ad", "prequential": "#d97706"}


@dataclass(frozen=True)
class Series:
    """One line of a chart: a name for the legend, a colour and (x, y) points in data units."""

    name: str
    color: str
    points: list[tuple[float, float]]


CHAR_WIDTH = 6.6  # px of one character at font-size 11 (system sans-serif, a little generous)


def _text_width(text: str) -> float:
    return CHAR_WIDTH * len(text)


def _spaced(ticks: list[float], centre: Callable[[float], float], label: Callable[[float], str], gap: float = 12) -> list[float]:
    """The ticks whose labels (centred at ``centre(tick)``) do not overlap: greedily from the first; the last
    tick is always shown and takes the place of the kept tick it would overlap."""

    def left(tick: float) -> float:
        return centre(tick) - _text_width(label(tick)) / 2

    def right(tick: float) -> float:
        return centre(tick) + _text_width(label(tick)) / 2

    kept: list[float] = []
    for tick in ticks:
        if not kept or left(tick) >= right(kept[-1]) + gap:
            kept.append(tick)
    if len(kept) > 1 and kept[-1] != ticks[-1]:
        kept[-1] = ticks[-1]
    return kept


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def line_chart(
    series: list[Series],
    *,
    title: str,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
    y_range: tuple[float, float] | None = None,
    width: int = 560,
    height: int = 220,
) -> SafeString:
    """An accessible inline SVG line chart (points marked, axes ticked, legend on top)."""
    points = [p for s in series for p in s.points]
    if not points:
        return mark_safe(f'<p class="muted">{escape(title)}: no data yet.</p>')
    left, right, top, bottom = 52, 12, 26, 30
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = y_range if y_range else (0.0, max(max(ys), 1.0))
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def sx(x: float) -> float:
        return left + (x - x0) / span_x * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / span_y * (height - top - bottom)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for y in _ticks(y0, y1):
        parts.append(
            f'<line x1="{left}" y1="{sy(y):.1f}" x2="{width - right}" y2="{sy(y):.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">{escape(y_format(y))}</text>'
        )
    distinct_xs = sorted(set(xs))
    def label_centre(x: float) -> float:  # under its point, but inside the chart at both ends
        half = _text_width(x_format(x)) / 2
        return min(max(sx(x), half + 2), width - half - 2)

    for x in _spaced(distinct_xs if len(distinct_xs) <= 5 else _ticks(x0, x1), label_centre, x_format):
        parts.append(
            f'<text x="{label_centre(x):.1f}" y="{height - 10}" text-anchor="middle" font-size="11">{escape(x_format(x))}</text>'
        )
    legend_x = left
    for s in series:
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(s.points))
        parts.append(f'<path d="{path}" fill="none" stroke="{s.color}" stroke-width="2"/>')
        for x, y in s.points:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{s.color}">'
                f"<title>{escape(s.name)}: {escape(y_format(y))} at {escape(x_format(x))}</title></circle>"
            )
        parts.append(
            f'<rect x="{legend_x}" y="8" width="10" height="10" fill="{s.color}"/>'
            f'<text x="{legend_x + 14}" y="17" font-size="12">{escape(s.name)}</text>'
        )
        legend_x += 20 + 8 * len(s.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def confusion_svg(matrix: list[list[int]], names: list[str], *, cell: int = 34) -> SafeString:
    """The confusion matrix as a heat map: rows true class, columns predicted class, counts in cells."""
    if not matrix:
        return mark_safe('<p class="muted">Confusion matrix: no evaluated labels yet.</p>')
    size = len(matrix)
    longest = max((_text_width(str(name)) for name in names[:size]), default=0.0)
    # Column names are turned 45°: they need their length × sin 45° above the grid and right of it.
    slant = longest * 0.71
    label_w, label_h = max(60, int(longest) + 12), max(40, int(slant) + 16)
    width, height = label_w + size * cell + 4 + int(slant), label_h + size * cell + 4
    peak = max((max(row) for row in matrix), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="Confusion matrix"><title>Confusion matrix (rows: true class, columns: predicted)</title>'
    ]
    for j, name in enumerate(names[:size]):
        x = label_w + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.1f},{label_h - 6}) rotate(-45)" font-size="11">{escape(name)}</text>'
        )
    for i, row in enumerate(matrix):
        y = label_h + i * cell
        parts.append(
            f'<text x="{label_w - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(names[i] if i < len(names) else i)}</text>"
        )
        for j, value in enumerate(row):
            shade = value / peak
            fill = f"rgba(47,111,237,{0.08 + 0.92 * shade:.2f})" if value else "#fafafa"
            ink = "#fff" if shade > 0.55 else "#1d2330"
            x = label_w + j * cell
            outline = ' stroke="#1d2330"' if i == j else ""
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"'
                f"{outline}><title>true {escape(names[i] if i < len(names) else i)}, "
                f"predicted {escape(names[j] if j < len(names) else j)}: {value}</title></rect>"
                f'<text x="{x + (cell - 2) / 2:.1f}" y="{y + cell / 2 + 3:.1f}" text-anchor="middle" font-size="11" '
                f'fill="{ink}">{value}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def dashboard_context(project: Project) -> dict:
    """Everything the dashboard shows, read fresh from the database."""
    counts = selectors.labeling_counts(project, fresh=True)
    timeline = selectors.label_timeline(project)
    versions = list(selectors.version_history(project))
    accepted, rejected = selectors.pseudo_acceptance(project)
    names = [c["name"] for c in classes(project)]
    current = next((v for v in versions if v.pk == project.current_version_id), versions[-1] if versions else None)
    metrics = current.metrics if current else {}
    timeline_chart = line_chart(
        [
            Series("human", PALETTE["human"], [(p.at.timestamp(), p.human) for p in timeline]),
            Series("accepted pseudo", PALETTE["pseudo"], [(p.at.timestamp(), p.pseudo) for p in timeline]),
            Series("rejected", PALETTE["rejected"], [(p.at.timestamp(), p.rejected) for p in timeline]),
        ],
        title="Labels over time (cumulative)",
        x_format=lambda x: datetime.fromtimestamp(x, tz=UTC).strftime("%m-%d %H:%M"),
        y_format=lambda y: f"{y:.0f}",
    )
    accuracy_series = [
        Series(
            "running accuracy",
            PALETTE["human"],
            [(v.human_labels, v.metrics["running_accuracy"]) for v in versions if v.metrics.get("running_accuracy") is not None],
        ),
        Series(
            "prequential accuracy",
            PALETTE["prequential"],
            [(v.human_labels, v.metrics["prequential_accuracy"]) for v in versions if v.metrics.get("prequential_accuracy") is not None],
        ),
        Series(
            "holdout accuracy",
            PALETTE["holdout"],
            [(v.human_labels, v.metrics["holdout_accuracy"]) for v in versions if v.metrics.get("holdout_accuracy") is not None],
        ),
    ]
    accuracy_chart = line_chart(
        [s for s in accuracy_series if s.points],
        title="Accuracy against human labels",
        x_format=lambda x: f"{x:.0f}",
        y_format=_percent,
        y_range=(0.0, 1.0),
    )
    # The held-out slice when the project keeps one (the cleaner figure), else prequential scores:
    # every human label scored by a version that had not trained on it, accumulated over versions.
    held_out = bool(metrics.get("holdout_count"))
    prefix = "holdout_" if held_out else ""
    per_class = [
        {"name": name, **(metrics.get(f"{prefix}per_class") or {}).get(name, {})} for name in names
    ]
    decided = accepted + rejected
    return {
        "project": project,
        "counts": counts,
        "accepted": accepted,
        "rejected": rejected,
        "acceptance_rate": accepted / decided if decided else None,
        "timeline_chart": timeline_chart,
        "accuracy_chart": accuracy_chart,
        "confusion_chart": confusion_svg(metrics.get(f"{prefix}confusion") or [], names),
        "per_class": per_class,
        "metrics_source": (
            f"on {metrics['holdout_count']} held-out labels" if held_out
            else f"prequential: {metrics.get('prequential_count') or 0} human labels, each scored by a version that had not trained on it"
        ),
        "current": current,
        "versions": list(reversed(versions)),
        "config": page_config(project),
    }
