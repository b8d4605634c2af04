"""Run every physics function on saved inputs under the backend named by KERAS_BACKEND; save the outputs.

Usage: ``KERAS_BACKEND=jax python cross_backend_worker.py inputs.npz outputs.npz``. The parent test
(tests/test_cross_backend.py) runs one process per backend and compares the files.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_lib

import keras
import numpy as np
from keras import ops

from ptycho_core import physics as P
from ptycho_testing.grad import gradients


def run(inputs: dict) -> dict:
    out = {}
    img, t = inputs["images"], inputs["translations"]
    out["translate"] = ops.convert_to_numpy(P.translate(img, t))
    canvas, off = inputs["canvas"], inputs["offsets"]
    out["extract"] = ops.convert_to_numpy(P.extract_patches_position(canvas, off, 32))
    obj = inputs["obj"]
    out["reassemble"] = ops.convert_to_numpy(P.reassemble_patches(obj, off, 46))
    out["center_channels"] = ops.convert_to_numpy(P.center_channels(np.abs(obj), off))
    psi = inputs["psi"]
    out["diffract"] = ops.convert_to_numpy(P.diffract(psi))
    out["smooth"] = ops.convert_to_numpy(P.complex_gaussian_filter2d(psi, (3, 3), 0.7))
    out["illuminate"] = ops.convert_to_numpy(
        P.illuminate(psi, inputs["probe"], mask=inputs["mask"], smoothing_sigma=0.5)
    )
    out["poisson_nll"] = ops.convert_to_numpy(P.poisson_nll(inputs["counts"], inputs["rates"]))
    out["stitched"] = P.reassemble_position(inputs["stitch_patches"], inputs["stitch_offsets"], M=20)
    weights = ops.convert_to_tensor(inputs["weights"])
    tt = ops.convert_to_tensor(t)
    g_img, g_t = gradients(lambda x, s: ops.sum(P.translate(x, s)[:, :, :, :1] * weights), [img, t])
    out["grad_translate_images"], out["grad_translate_offsets"] = g_img, g_t
    del tt
    g_re, g_im = gradients(
        lambda re, im: ops.sum(P.diffract((re, im)) ** 2 * 0.5 + P.diffract((re, im))), [psi.real, psi.imag]
    )
    out["grad_diffract_real"], out["grad_diffract_imag"] = g_re, g_im
    return out


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    with np.load(src) as data:
        inputs = {k: data[k] for k in data.files}
    outputs = run(inputs)
    outputs["__backend__"] = np.array(keras.backend.backend())
    np.savez(dst, **outputs)


if __name__ == "__main__":
    main()
