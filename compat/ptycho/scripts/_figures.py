"""The pictures and diagnostics ``ptycho_inference`` writes besides ``save_outputs``' images and arrays.

Drawn with matplotlib's object API on an Agg canvas (no ``pyplot`` state) and written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ptycho_core.atomic import atomic_write_bytes

__all__ = ["image_png", "comparison_png", "has_reference", "write_debug_dump"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any, **savefig: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **savefig)
    return buffer.getvalue()


def image_png(image: np.ndarray, cmap: str, vmin: Optional[float] = None, vmax: Optional[float] = None) -> bytes:
    """An 8×8-inch ``imshow`` of the real 2-D ``image`` with a colour bar and the colour range ``[vmin, vmax]``."""
    figure = _figure(8, 8)
    axes = figure.add_subplot()
    figure.colorbar(axes.imshow(np.squeeze(image), cmap=cmap, vmin=vmin, vmax=vmax), ax=axes)
    return _png(figure)


def has_reference(obj: Optional[np.ndarray]) -> bool:
    """Whether ``obj`` (the NPZ's ``objectGuess``) can serve as a reference: present, not all zero, not uniform."""
    if obj is None or np.size(obj) == 0:
        return False
    obj = np.asarray(obj)
    first = obj.flat[0]
    return not np.allclose(obj, 0, atol=1e-10) and not (
        np.allclose(obj.real, first.real, atol=1e-10) and np.allclose(obj.imag, first.imag, atol=1e-10)
    )


def comparison_png(
    amplitude: np.ndarray,
    phase: np.ndarray,
    reference: np.ndarray,
    phase_vmin: Optional[float] = None,
    phase_vmax: Optional[float] = None,
) -> bytes:
    """A 2×2 figure (300 dpi): reconstructed and reference phase (gray) above their amplitudes (viridis)."""
    figure = _figure(4, 4)
    panels = (
        ("PtychoPINN phase", np.squeeze(phase), "gray", phase_vmin, phase_vmax),
        ("objectGuess phase", np.angle(reference), "gray", phase_vmin, phase_vmax),
        ("PtychoPINN amplitude", np.squeeze(amplitude), "viridis", None, None),
        ("objectGuess amplitude", np.abs(reference), "viridis", None, None),
    )
    for index, (title, image, cmap, vmin, vmax) in enumerate(panels, start=1):
        axes = figure.add_subplot(2, 2, index)
        figure.colorbar(axes.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax), ax=axes, fraction=0.046, pad=0.04)
        axes.set_title(title, fontsize=6)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.tight_layout()
    return _png(figure, dpi=300, bbox_inches="tight")


def _stats(values: np.ndarray) -> Dict[str, float]:
    if values.size == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    return {k: float(f(values)) for k, f in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}


def write_debug_dump(folder: Path, patches: np.ndarray, global_offsets: np.ndarray, canvas: np.ndarray) -> None:
    """The original's ``--debug_dump`` files in ``folder``: ``pred_patches_amp_grid.png`` (the first 16 patch
    amplitudes), ``offsets.json`` (patch positions), ``stats.json`` (patch and canvas amplitude statistics) and
    ``canvas.json`` (sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    amplitudes = np.abs(np.asarray(patches))
    amplitudes = amplitudes.reshape((-1,) + amplitudes.shape[1:3]) if amplitudes.ndim >= 3 else amplitudes
    offsets = np.asarray(global_offsets, dtype=np.float64).reshape(-1, 2)
    canvas_amplitude = np.abs(np.squeeze(np.asarray(canvas)))
    shown = min(16, len(amplitudes))
    if shown:
        rows = -(-shown // 4)
        figure = _figure(10, 2.5 * rows)
        for index in range(shown):
            axes = figure.add_subplot(rows, 4, index + 1)
            axes.imshow(amplitudes[index], cmap="magma")
            axes.set_title(f"Patch {index}", fontsize=8)
            axes.axis("off")
        figure.tight_layout()
        atomic_write_bytes(folder / "pred_patches_amp_grid.png", _png(figure, dpi=200), "backup")
    count = len(offsets)
    spread = offsets.std(axis=0) if count else np.zeros(2)
    documents = {
        "offsets.json": {
            "count": count,
            "first_offsets_px": [{"dx": float(dx), "dy": float(dy)} for dx, dy in offsets[:shown]],
            "mean_dx": float(offsets[:, 0].mean()) if count else 0.0,
            "mean_dy": float(offsets[:, 1].mean()) if count else 0.0,
            "std_dx": float(spread[0]),
            "std_dy": float(spread[1]),
        },
        "stats.json": {
            "patch_amplitude": {
                **_stats(amplitudes),
                "var_zero_mean": float(np.var(amplitudes - amplitudes.mean(axis=(-2, -1), keepdims=True)))
                if amplitudes.size
                else 0.0,
            },
            "canvas_amplitude": _stats(canvas_amplitude),
        },
        "canvas.json": {
            "patch_size": int(amplitudes.shape[-1]) if amplitudes.size else 0,
            "canvas_size": int(canvas_amplitude.shape[-1]) if canvas_amplitude.size else 0,
            "num_patch_slots": int(len(amplitudes)),
            "max_abs_dx": float(np.abs(offsets[:, 0]).max()) if count else 0.0,
            "max_abs_dy": float(np.abs(offsets[:, 1]).max()) if count else 0.0,
        },
    }
    for name, document in documents.items():
        atomic_write_bytes(folder / name, (json.dumps(document, indent=2) + "\n").encode(), "backup")
