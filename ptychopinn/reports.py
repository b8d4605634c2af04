"""What the command line shows and writes besides the results: step timing, the loss history as CSV and PNG."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List

Report = Callable[[str], None]


@dataclass
class Stage:
    """Times a named step and reports ``[k/n] name … done in t s``."""

    report: Report
    total: int
    count: int = 0
    started: float = field(default_factory=time.perf_counter)

    def start(self, name: str) -> None:
        self.count += 1
        self.started = time.perf_counter()
        self.report(f"[{self.count}/{self.total}] {name} ...")

    def done(self, detail: str = "") -> float:
        elapsed = time.perf_counter() - self.started
        self.report(f"      done in {elapsed:.1f} s{(' — ' + detail) if detail else ''}")
        return elapsed


def history_csv(history: Dict[str, List[float]]) -> bytes:
    """Per-epoch history as CSV (``epoch`` then one column per series, sorted, ``loss`` first)."""
    keys = sorted(history, key=lambda k: (k != "loss", k))
    rows = max((len(v) for v in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch"] + keys)
    for i in range(rows):
        writer.writerow([i + 1] + [float(history[k][i]) if i < len(history[k]) else "" for k in keys])
    return buffer.getvalue().encode()


def loss_curve_png(history: Dict[str, List[float]]) -> bytes:
    """Training (and validation) loss per epoch as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for key in ("loss", "val_loss"):
        if history.get(key):
            axes.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=key)
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (Poisson NLL + weighted terms)")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
