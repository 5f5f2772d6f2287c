"""Plots of measured series: one PNG per series, its limits drawn in.

matplotlib's object API (Figure, no pyplot) needs no display and keeps no global state, so it
is safe on CI machines, benches and in xdist workers alike."""

from pathlib import Path

from matplotlib.figure import Figure

from reports.measurement import Series


def plot_series(series: Series, path: Path, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(7, 3.2), dpi=100)
    ax = fig.subplots()
    if series.points:
        t, v = zip(*series.points, strict=True)
        ax.plot(t, v, marker=".", linewidth=1)
    for limit, label in zip(series.limits, ("min", "max"), strict=True):
        if limit is not None:
            ax.axhline(limit, color="tab:red", linestyle="--", linewidth=1, label=label)
    ax.set_xlabel("vehicle time (s)")
    ax.set_ylabel(f"{series.name} ({series.unit})" if series.unit else series.name)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path
