"""What the command line shows and writes besides the results: step timing, the loss history as CSV and PNG."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List

Report = Callable[[str], None]


@dataclass
class Stage:
    """Times a named step and reports ``[k/n] name … done in t s``."""

    report: Report
    total: int  # the steps of the whole command (a demo's jobs share one Stage)
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
    """The loss per epoch as a PNG: the Poisson NLL above its floor (training and validation, log scale) when
    the history has it (``poisson_nll_excess``), else the total loss."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    excess = bool(history.get("poisson_nll_excess"))
    keys = ("poisson_nll_excess", "val_poisson_nll_excess") if excess else ("loss", "val_loss")
    labels = {"poisson_nll_excess": "training", "val_poisson_nll_excess": "validation"}
    for key in keys:
        if history.get(key):
            axes.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=labels.get(key, key))
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if excess and min(min(history[k]) for k in keys if history.get(k)) > 0:
        axes.set_yscale("log")
    axes.set_ylabel("Poisson NLL above its floor, per pixel" if excess else "loss (Poisson NLL + weighted terms)")
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def loss_summary(history: Dict[str, List[float]], pixels_per_pattern: int) -> str:
    """One line on convergence: the Poisson NLL above its floor per pattern, first and last epoch, the
    improvement, and whether the last quarter of the epochs still lowered it (by more than 1%), raised it, or
    neither (plateaued)."""
    values = history.get("poisson_nll_excess") or []
    if not values:
        loss = history.get("loss") or [float("nan")]
        return f"final loss {loss[-1]:.6g}"
    first, last = values[0] * pixels_per_pattern, values[-1] * pixels_per_pattern
    text = f"Poisson NLL above its floor {first:.4g} → {last:.4g} per pattern"
    if last > 0 and first > 0:
        text += f" ({first / last:.3g}× lower)"
    window = max(1, len(values) // 4)
    if len(values) > window:
        before = values[-1 - window]
        change = (before - values[-1]) / abs(before) if before else 0.0
        text += ", still improving" if change > 0.01 else (", rising" if change < -0.01 else ", plateaued")
        text += f" ({change:+.1%} over the last {window} epoch{'s' if window > 1 else ''})"
    validation = history.get("val_poisson_nll_excess")
    if validation:
        text += f"; validation {validation[-1] * pixels_per_pattern:.4g}"
    return text


def epoch_lines(report: Report, epochs: int, pixels_per_pattern: int) -> Any:
    """A Keras callback reporting one plain line per epoch (no progress bar, no terminal control codes): the
    Poisson NLL above its floor per pattern (training, validation), else the loss."""
    import keras

    class EpochLines(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            if "poisson_nll_excess" in logs:
                shown = {"NLL above floor": "poisson_nll_excess", "validation": "val_poisson_nll_excess"}
                scale = pixels_per_pattern
            else:
                shown, scale = {"loss": "loss", "validation": "val_loss"}, 1
            values = ", ".join(f"{name} {float(logs[k]) * scale:.4g}" for name, k in shown.items() if k in logs)
            seconds = time.perf_counter() - self.started
            report(f"      epoch {epoch + 1}/{epochs}: {values}{' per pattern' if scale > 1 else ''} ({seconds:.1f} s)")

    return EpochLines()
