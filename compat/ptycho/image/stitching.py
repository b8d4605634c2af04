"""The original's regular-grid patch stitching (``stitch_patches`` / ``reassemble_patches``), in NumPy.

This is tiling, not scattered-position stitching: patches that came from a ``gridsize × gridsize`` grid of
simulated lines objects are cropped to their central part and laid side by side. For data with arbitrary scan
positions use :func:`ptycho.tf_helper.reassemble_position`. As in the original, the number of tiles per side is
``sqrt(patches.size / (nimgs_test · N²))`` and the kept centre of each patch is ``outer_offset/2`` pixels wide
(``outer_offset = cfg['outer_offset_test']``, falling back to ``cfg['offset']``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["stitch_patches", "reassemble_patches"]

_PARTS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "amp": np.absolute,
    "phase": np.angle,
    "complex": lambda x: x,
}


def _host(x: Any) -> np.ndarray:
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def stitch_patches(
    patches: Any, config: Mapping[str, Any], *, norm_Y_I: float = 1.0, norm: bool = True, part: str = "amp"
) -> np.ndarray:
    """Tile ``patches`` ``(nimgs·n², N, N, 1)`` (or any shape with that many elements) into images.

    Returns ``(nimgs, n·w, n·w, 1)`` with ``w`` the kept width of each patch. Raises ``ValueError`` for
    ``gridsize == 1`` (nothing to tile: use ``reassemble_position``), for an unknown ``part`` and for a patch
    count that does not form a square grid.
    """
    if part not in _PARTS:
        raise ValueError("part must be 'amp', 'phase', or 'complex'")
    if int(config.get("gridsize", 1)) == 1:
        raise ValueError(
            "regular-grid stitching needs gridsize > 1; for scattered scan positions use "
            "ptycho.tf_helper.reassemble_position(patches, global_offsets, M)"
        )
    patches = _host(patches)
    N = int(config["N"])
    nimgs = int(config["nimgs_test"])
    outer_offset = config.get("outer_offset_test", config.get("offset", 0))
    outer_offset = 0 if outer_offset is None else outer_offset
    n_side = int(np.sqrt(patches.size / nimgs / N**2))
    if n_side < 1 or nimgs * n_side**2 * N**2 != patches.size:
        raise ValueError(
            f"{patches.size} values do not form {nimgs} square grids of {N}x{N} patches (cfg nimgs_test={nimgs})"
        )
    values = _PARTS[part](patches)
    if norm:
        values = norm_Y_I * values
    tiles = np.reshape(values, (-1, n_side, n_side, N, N, 1))
    border = (N - outer_offset / 2) / 2
    left, right = int(np.ceil(border)), int(np.floor(border))
    tiles = tiles[:, :, :, left : N - right, left : N - right, :]
    width = tiles.shape[3]
    mosaic = tiles.transpose(0, 1, 3, 2, 4, 5)
    return mosaic.reshape(-1, n_side * width, n_side * width, 1)


def reassemble_patches(
    patches: Any, config: Mapping[str, Any], *, norm_Y_I: float = 1.0, part: str = "amp", norm: bool = False
) -> np.ndarray:
    """:func:`stitch_patches` with the original's defaults (no normalisation)."""
    return stitch_patches(patches, config, norm_Y_I=norm_Y_I, norm=norm, part=part)
