"""``params.print_params`` with a tensor of the active backend in ``cfg`` (the rest of params is host-only)."""

import numpy as np

from ptycho import params


def test_print_params_accepts_array_likes(capsys):
    from keras import ops

    params.cfg["probe"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    params.cfg["some_tensor"] = ops.convert_to_tensor(np.ones((4, 1), np.float32))
    params.cfg["complex_thing"] = np.array([1 + 1j, 3 - 1j], np.complex64)
    params.print_params()
    out = capsys.readouterr().out
    assert "probe:" in out and "shape: (2, 3)" in out and "mean: 2.500" in out
    assert "shape: (4, 1)" in out and "max: 1.000" in out
    assert "N: 128" in out or f"N: {params.cfg['N']}" in out
    assert "bigN:" in out
