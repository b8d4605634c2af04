"""Measured figures and how they are shown: the :class:`Record`, table cells and tables, console lines, JSON.

Workers turn each measurement into a :class:`Record` (written as ``dataclasses.asdict``); the parent formats
the records of every backend into one table, prints one line per backend and per failed worker, and writes
everything to a JSON file. Nothing here measures or spawns anything.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple


@dataclass
class Record:
    """One measured figure.

    ``value`` is the median over ``repeats`` (patterns/s or seconds, see ``unit``); ``samples`` holds every
    repeat; ``iters`` is the number of calls timed per repeat; ``first_call_s`` is the untimed warm-up call
    (includes tracing / compilation).
    """

    backend: str
    measurement: str
    mode: str
    size: str
    value: float
    unit: str
    samples: List[float]
    iters: int
    first_call_s: float
    extra: Dict[str, Any] = field(default_factory=dict)


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f} s" if value < 100 else f"{value:.0f} s"
    return f"{value:,.0f} {unit}"


def record_cells(r: Dict[str, Any]) -> Tuple[str, ...]:
    """Standard cells of one record: backend, measurement, size, median, min..max, iters, 1st call."""
    unit = r["unit"]
    spread = f"{format_value(min(r['samples']), unit)}..{format_value(max(r['samples']), unit)}"
    return (
        r["backend"],
        r["measurement"],
        r["size"],
        format_value(r["value"], unit),
        spread.replace(f" {unit}..", ".."),
        str(r["iters"]),
        f"{r['first_call_s']:.2f} s",
    )


RECORD_HEADER: Tuple[str, ...] = ("backend", "measurement", "size", "median", "min..max", "iters", "1st call")


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, a dashed rule under the header, trailing blanks stripped."""
    rows = [tuple(header)] + [tuple(row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_backend_lines(results: Sequence[Dict[str, Any]]) -> None:
    """One line per backend that ran: version, device, Keras version, worker wall time."""
    for payload in results:
        if "error" not in payload:
            print(
                f"  {payload['backend']:<10} {payload['backend_version']:<12} device: {payload['device']}  "
                f"(keras {payload['keras_version']}, worker {payload['worker_wall_s']:.0f} s)"
            )


def report_failures(results: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Print the error and the log tail of every failed worker to stderr; returns the failed payloads."""
    failed = [p for p in results if "error" in p]
    for payload in failed:
        print(f"\n{payload['backend']}: {payload['error']}\n{payload['log'][-4000:]}", file=sys.stderr)
    return failed


def write_json(path: str | Path, payload: Dict[str, Any]) -> Path:
    """Write ``payload`` (indented JSON) to ``path``, creating folders, and print ``wrote PATH``."""
    json_path = Path(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(payload, indent=1))
    print(f"\nwrote {json_path}")
    return json_path
