"""Small PNG charts for MLflow artifacts: grouped bars (``agenttune compare``) and x/y points (a sweep).

    bar_chart("held_in.png", "held_in", {"demo/tuned": {"agenttune/DB-v0": 0.8}, "gpt-4": {"agenttune/DB-v0": 0.6}})
    scatter_chart("eta.png", "held_in by eta", {"tuned": {0.2: 1.1, 0.5: 0.9}}, xlabel="eta", ylabel="overall")

Drawn on matplotlib's Agg canvas without pyplot: no display is needed and no global backend or figure state
is touched, so a chart can be drawn from any thread of a process that also plots interactively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DPI = 100


def bar_chart(
    path: str | Path,
    title: str,
    series: Mapping[str, Mapping[str, float]],
    *,
    categories: Sequence[str] | None = None,
    ylabel: str = "score",
    reference: float | None = None,
) -> Path:
    """Grouped bars: one group per category (x), one bar per series in it, labelled with its value.

    ``series`` maps a label (the legend) to its value per category; a category a series lacks has no bar.
    ``categories`` fixes the groups and their order (default: every category, in order of first appearance).
    ``reference`` draws a dashed horizontal line (e.g. 1.0, the baselines' mean of a normalised score).
    """
    xs = list(categories) if categories is not None else list(dict.fromkeys(x for s in series.values() for x in s))
    fig, ax = _figure(width=max(6.0, 1.5 + 0.35 * len(xs) * max(1, len(series))))
    group = 0.8  # of the space between two categories; the rest separates the groups
    width = group / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        points = [(j, values[x]) for j, x in enumerate(xs) if x in values]
        if not points:
            ax.bar([], [], width, label=label)  # still in the legend: "no score" is worth seeing
            continue
        positions = [j - group / 2 + width * (i + 0.5) for j, _ in points]
        bars = ax.bar(positions, [v for _, v in points], width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(xs)), xs, rotation=30 if len(xs) > 3 else 0, ha="right" if len(xs) > 3 else "center")
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)  # room for the value labels above the tallest bar
    return _save(fig, ax, title, path, legend=len(series) > 1)


def scatter_chart(
    path: str | Path,
    title: str,
    series: Mapping[str, Mapping[float, float]],
    *,
    xlabel: str,
    ylabel: str,
    lines: bool = True,
) -> Path:
    """Points ``x -> y`` per series (one colour each), joined in order of x when ``lines`` (e.g. an ablation)."""
    fig, ax = _figure(width=6.0)
    for label, values in series.items():
        points = sorted(values.items())
        ax.plot(
            [x for x, _ in points], [y for _, y in points], marker="o", linestyle="-" if lines else "none", label=label
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return _save(fig, ax, title, path, legend=len(series) > 1)


def _figure(width: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(min(width, 24.0), 4.5), dpi=_DPI)  # capped: a 24-inch PNG is already hard to read
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, ax, title: str, path: str | Path, *, legend: bool) -> Path:
    ax.set_title(title)
    if legend:
        ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path
