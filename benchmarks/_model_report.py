"""What the model benchmark prints: the table of all backends, and the FLOP, target and per-backend lines.

Everything here reads the workers' payloads (JSON-shaped dictionaries) and returns text; nothing is measured.
With ``--original-python`` the original PtychoPINN's payload (:func:`benchmarks._original_run.run_original`,
backend ``"original"``) is passed as ``original``: its rows join the table, and every row of ours gains the
original's figure measured in the same run and the ratio ours / that figure, beside the issue's figure.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._common import RECORD_HEADER, record_cells, render_table
from ._model_config import (
    DEFAULT_N,
    REFERENCE_CONV_GFLOP,
    REFERENCE_MATMUL_GFLOPS,
    REFERENCE_PATTERNS_S,
    TARGET_PREDICT_BEST,
    TARGET_TRAIN_BEST,
    TARGET_TRAIN_TORCH,
)


def _fmt(value: Optional[float], spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _original_by_size(original: Optional[Dict[str, Any]]) -> Dict[Tuple[str, str], float]:
    """The original's measured patterns/s keyed by ``(measurement, size)``."""
    return {(r["measurement"], r["size"]): r["value"] for r in (original or {}).get("records", [])}


def format_table(results: Sequence[Dict[str, Any]], original: Optional[Dict[str, Any]] = None) -> str:
    """One row per backend × measurement with roofline, memory and the original's figure beside ours.

    Without ``original`` the last columns are the issue's figure of the original and our ratio to it. With it,
    the original's own rows follow ours and two more columns hold the original measured in this run and the
    ratio to that (the issue's columns stay, labelled ``(issue)``; on the original's rows they compare it with
    the issue's figure).
    """
    measured = _original_by_size(original)
    reference_cols: Tuple[str, ...] = ("original", "ratio")
    if original is not None:
        reference_cols = ("orig. (issue)", "ratio (issue)", "orig. (measured)", "ratio (measured)")
    header = (
        RECORD_HEADER[:1]
        + ("what", "config")
        + RECORD_HEADER[3:]
        + ("GFLOP/s", "% peak", "peak RSS")
        + reference_cols
        + ("mode",)
    )
    rows = []
    for payload in list(results) + ([original] if original is not None else []):
        for r in payload.get("records", []):
            e = r["extra"]
            cells = record_cells(r)
            rss = _fmt(e.get("peak_rss_mib"), ",.0f", " MiB")
            if e.get("backend_peak_mib") is not None:
                rss += f" ({e['backend_peak_mib']:,.0f} MiB backend)"
            reference: Tuple[str, ...] = (_fmt(e.get("reference"), ".2f"), _fmt(e.get("ratio"), ".2f", "x"))
            if original is not None:
                theirs = None if r["backend"] == "original" else measured.get((r["measurement"], r["size"]))
                reference += (
                    _fmt(theirs, ".2f"),
                    _fmt(None if theirs is None else r["value"] / theirs, ".2f", "x"),
                )
            rows.append(
                cells
                + (_fmt(e.get("gflops"), ".1f"), _fmt(e.get("pct_peak"), ".0f", "%"), rss)
                + reference
                + (r["mode"],)
            )
    return render_table(header, rows)


def flop_check(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Our convolution GFLOP per pattern against the original's figures (same for every backend)."""
    seen: Dict[Tuple[str, int], float] = {}
    for payload in results:
        for r in payload.get("records", []):
            if r["extra"].get("n", DEFAULT_N) != DEFAULT_N:
                continue
            key = ("fwd+bwd" if r["measurement"] == "train" else "fwd", r["extra"]["gridsize"])
            seen.setdefault(key, r["extra"]["gflop_per_pattern"])
    lines = []
    for key, ours in sorted(seen.items()):
        text = f"conv GFLOP per pattern, {key[0]}, gridsize {key[1]}: {ours:.3f}"
        reference = REFERENCE_CONV_GFLOP.get(key)
        if reference is not None:
            verdict = "agrees" if abs(ours - reference) <= 0.01 * reference + 0.005 else "DIFFERS"
            text += f" (original {reference:.2f}: {verdict})"
        lines.append(text)
    return lines


def _best(
    results: Sequence[Dict[str, Any]], measurement: str, size: str, backends: Optional[Sequence[str]] = None
) -> Optional[Dict[str, Any]]:
    candidates = [
        r
        for p in results
        for r in p.get("records", [])
        if r["measurement"] == measurement and r["size"] == size and (backends is None or r["backend"] in backends)
    ]
    return max(candidates, key=lambda r: r["value"]) if candidates else None


def target_lines(results: Sequence[Dict[str, Any]], original: Optional[Dict[str, Any]] = None) -> List[str]:
    """Verdicts on the issue's targets for every like-for-like configuration that ran.

    Each is judged against the issue's figure of the original and, when ``original`` is given, also against the
    original measured in this run (``vs original measured here``).
    """
    measured = _original_by_size(original)
    lines = []
    checks = [
        ("train", None, TARGET_TRAIN_BEST, "best backend"),
        ("train", ("torch",), TARGET_TRAIN_TORCH, "torch"),
        ("predict", None, TARGET_PREDICT_BEST, "best backend"),
    ]
    for measurement, backends, target, who in checks:
        for (m, gridsize, batch), reference in REFERENCE_PATTERNS_S.items():
            if m != measurement:
                continue
            size = f"gs{gridsize} b{batch}"
            best = _best(results, measurement, size, backends)
            if best is None:
                continue
            against = [("issue's figure", reference)]
            if (measurement, size) in measured:
                against.append(("original measured here", measured[(measurement, size)]))
            for what, theirs in against:
                ratio = best["value"] / theirs
                verdict = "MET" if ratio >= target else "NOT MET"
                lines.append(
                    f"target {measurement} {size} >= {target}x original on {who} (vs {what}): "
                    f"{best['backend']} {best['value']:.2f} vs {theirs:.2f} patterns/s = {ratio:.2f}x -> {verdict}"
                )
    return lines


def original_lines(original: Optional[Dict[str, Any]]) -> List[str]:
    """The original's interpreter and versions, its failed configurations and non-finite losses."""
    if original is None:
        return []
    info = original.get("info") or {}
    versions = ", ".join(f"{k} {info[k]}" for k in ("python", "tensorflow", "keras", "numpy") if k in info)
    lines = [
        f"{'original':<10} PtychoPINN from {info.get('ptycho_file', '?')} ({versions}) run by {original['python']}; "
        f"one process per configuration, {original['worker_wall_s']:.0f} s in all"
    ]
    for err in original.get("errors", []):
        lines.append(f"{'original':<10} {err['measurement']} {err['size']} FAILED: {err['error'][:400]}")
    for r in original.get("records", []):
        loss = r["extra"].get("final_loss")
        if loss is not None and not np.isfinite(loss):
            lines.append(f"{'original':<10} {r['measurement']} {r['size']}: WARNING final loss {loss}")
    return lines


def backend_lines(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Per backend: matmul peaks, peak RSS, failed configurations and non-finite training losses."""
    lines = []
    for p in results:
        if "error" in p:
            continue
        runs = "; ".join(f"NumPy {m['numpy']:.0f}, {p['backend']} {m['backend']:.0f}" for m in p["matmul_gflops"])
        lines.append(
            f"{p['backend']:<10} matmul float32 GFLOP/s (start; end): {runs} -> peak "
            f"{p['matmul_peak_gflops']:.0f} (original machine kind ~{REFERENCE_MATMUL_GFLOPS:.0f}); "
            f"worker peak RSS {p['worker_peak_rss_mib']:,.0f} MiB"
        )
        for err in p.get("errors", []):
            lines.append(f"{p['backend']:<10} {err['measurement']} {err['size']} FAILED: {err['error'][:400]}")
        for r in p["records"]:
            loss = r["extra"].get("final_loss")
            if loss is not None and not np.isfinite(loss):
                lines.append(
                    f"{p['backend']:<10} {r['measurement']} {r['size']}: WARNING final loss {loss} "
                    "(the figures are of a diverged model)"
                )
    return lines
