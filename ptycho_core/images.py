"""PNG and NumPy outputs of a reconstruction, written atomically (see :mod:`ptycho_core.atomic`).

Figures are drawn with matplotlib's object API on an Agg canvas: no ``pyplot`` global state and no GUI backend,
so this is safe inside a host application (e.g. Ptychodus' Qt process) and in headless jobs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .atomic import Existing, atomic_write_bytes


def png_bytes(
    image: np.ndarray,
    cmap: str = "gray",
    title: Optional[str] = None,
    colorbar: bool = True,
    figsize: float = 8.0,
    robust: bool = True,
) -> bytes:
    """Render a real 2-D array ``(H, W)`` as a PNG (``imshow`` with a colour bar); returns the file's bytes.

    With ``robust`` the colour range is the 1st–99th percentile of the finite, non-zero values (exact zeros are
    taken as unfilled canvas, e.g. a stitched image's border, unless they are most of the image), so a few
    extreme pixels do not wash out the image; the data are not changed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    image = np.squeeze(np.asarray(image))
    if image.ndim != 2 or np.iscomplexobj(image):
        raise ValueError(
            f"an image must be a real 2-D array after squeezing; got shape {image.shape}, "
            f"dtype {image.dtype} (pass np.abs(x) or np.angle(x) for complex data)"
        )
    figure = Figure(figsize=(figsize, figsize))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    vmin: Optional[float] = None
    vmax: Optional[float] = None
    finite = image[np.isfinite(image)]
    nonzero = finite[finite != 0]
    if nonzero.size >= finite.size // 2:
        finite = nonzero  # exact zeros are unfilled canvas (e.g. a stitched image's border), not data
    if robust and finite.size:
        low, high = np.percentile(finite, [1, 99])
        if high > low:
            vmin, vmax = float(low), float(high)
    shown = axes.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
    if colorbar:
        figure.colorbar(shown, ax=axes)
    if title:
        axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_png(
    path: Union[str, Path],
    image: np.ndarray,
    cmap: str = "gray",
    title: Optional[str] = None,
    existing: Existing = "backup",
    robust: bool = True,
) -> Path:
    """Write ``image`` ``(H, W)`` as a PNG at ``path``; an existing file is kept as a numbered backup by default."""
    return atomic_write_bytes(path, png_bytes(image, cmap=cmap, title=title, robust=robust), existing)


def save_npy(path: Union[str, Path], array: np.ndarray, existing: Existing = "backup") -> Path:
    """Write ``array`` as ``.npy`` at ``path`` (no pickle); an existing file is kept as a numbered backup."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue(), existing)
