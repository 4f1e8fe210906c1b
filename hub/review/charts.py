"""Small inline SVG charts for the review report: no script, no outside files, print well."""

from collections.abc import Collection, Sequence
from html import escape

BAR_COLOUR = "#0b3d91"
MARK_COLOUR = "#b00020"  # a row that needs attention
TEXT_COLOUR = "#111111"
LABEL_W = 200
CHART_W = 640
ROW_H = 26
COLUMN_CHART_H = 160


def bar_chart(
    title: str, bars: Sequence[tuple[str, float]], *, unit: str = "", full: float | None = None
) -> str:
    """Horizontal bars, one row per label, each with its value written at its end.

    `full` is the value of a full-length bar (100 for percentages); by default the largest.
    """
    if not bars:
        return f'<p class="empty">{escape(title)}: nothing in this period.</p>'
    top = full or max(value for _, value in bars) or 1
    span = CHART_W - LABEL_W - 60
    rows: list[str] = []
    for index, (label, value) in enumerate(bars):
        y = index * ROW_H
        width = round(span * value / top, 1)
        rows.append(
            f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{width}" height="{ROW_H - 8}"'
            f' fill="{BAR_COLOUR}"/>'
            f'<text x="{LABEL_W + width + 6}" y="{y + 17}">{_number(value)}{escape(unit)}</text>'
        )
    return _svg(title, CHART_W, len(bars) * ROW_H, "".join(rows))


def column_chart(title: str, columns: Sequence[tuple[str, float]]) -> str:
    """Vertical columns (such as the 24 hours of a day) with labels underneath."""
    if not columns or not any(value for _, value in columns):
        return f'<p class="empty">{escape(title)}: nothing in this period.</p>'
    top = max(value for _, value in columns)
    step = CHART_W / len(columns)
    plot_h = COLUMN_CHART_H - 40
    parts: list[str] = []
    for index, (label, value) in enumerate(columns):
        height = round(plot_h * value / top, 1)
        x = round(index * step + 2, 1)
        parts.append(
            f'<rect x="{x}" y="{20 + plot_h - height}" width="{round(step - 4, 1)}"'
            f' height="{height}" fill="{BAR_COLOUR}"/>'
            f'<text x="{round(x + step / 2 - 2, 1)}" y="{COLUMN_CHART_H - 4}"'
            f' text-anchor="middle">{escape(label)}</text>'
        )
        if value:
            parts.append(
                f'<text x="{round(x + step / 2 - 2, 1)}" y="{16 + plot_h - height}"'
                f' text-anchor="middle">{_number(value)}</text>'
            )
    return _svg(title, CHART_W, COLUMN_CHART_H, "".join(parts))


def trend_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    unit: str = "",
    full: float = 100,
    marked: Collection[str] = (),
) -> str:
    """One row per label: a line through its values (oldest first), first and last written.

    Values are drawn on a scale from 0 to `full` (100 for percentages); the rows labelled in
    `marked` are drawn in the attention colour, their labels in bold.
    """
    if not rows:
        return f'<p class="empty">{escape(title)}: nothing in this period.</p>'
    span = CHART_W - LABEL_W - 110
    parts: list[str] = []
    for index, (label, values) in enumerate(rows):
        top = index * ROW_H
        step = span / max(len(values) - 1, 1)
        points = " ".join(
            f"{round(LABEL_W + n * step, 1)},{round(top + ROW_H - 4 - (ROW_H - 8) * v / full, 1)}"
            for n, v in enumerate(values)
        )
        ends = f"{_number(values[0])}{unit} to {_number(values[-1])}{unit}"
        colour, weight = (MARK_COLOUR, "bold") if label in marked else (BAR_COLOUR, "normal")
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{top + 17}" text-anchor="end" font-weight="{weight}">'
            f"{escape(label)}</text>"
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{LABEL_W + span + 8}" y="{top + 17}">{escape(ends)}</text>'
        )
    return _svg(title, CHART_W, len(rows) * ROW_H, "".join(parts))


def _svg(title: str, width: float, height: float, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' width="100%" role="img" aria-label="{escape(title)}" font-size="13"'
        f' fill="{TEXT_COLOUR}"><title>{escape(title)}</title>{body}</svg>'
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
