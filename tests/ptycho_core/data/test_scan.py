"""ptycho_core.data.scan: Scan construction and Scan.validate's messages (the one place for input checks), the
counts warning, probe mode stacks and the chunk-wise checks of streamed patterns. Host-only: no Keras backend."""

import logging

import numpy as np
import pytest

from ptycho_core.data.scan import Scan, ScanError, as_probe_2d, check_diffraction_rows, looks_like_counts

LOGGER = "ptycho_core.data.scan"


def scan_of(x, y=None, diffraction=None, probe=None, **kwargs):
    x = np.asarray(x)
    y = x if y is None else np.asarray(y)
    diffraction = np.ones((len(x), 8, 8), np.float32) if diffraction is None else diffraction
    probe = np.ones((8, 8), np.complex64) if probe is None else probe
    return Scan(diffraction, x, y, probe, **kwargs)


def test_construction_keeps_numpy_arrays_and_defaults_the_start_positions():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    d = np.ones((3, 8, 8), np.float32)
    p = np.ones((8, 8), np.complex64)
    scan = Scan(d, x, y, p)
    assert scan.diffraction is d and scan.x is x and scan.y is y and scan.probe is p
    assert scan.x_start is x and scan.y_start is y and scan.object is None and scan.scan_index is None
    assert len(scan) == 3 and scan.N == 8 and scan.nphotons is None
    assert scan.validate() is scan
    listed = Scan([[1.0] * 8] * 8, [0.0], [0.0], p, metadata={"physics_parameters": {"nphotons": 1e6}})
    assert isinstance(listed.diffraction, np.ndarray) and listed.nphotons == 1e6
    sub = Scan(d, x, y, p, scan_index=np.arange(3)).subset([2, 0])
    np.testing.assert_array_equal(sub.x, [3.0, 1.0])
    np.testing.assert_array_equal(sub.scan_index, [2, 0])
    assert sub.diffraction.shape == (2, 8, 8)


def _with(arr, index, value):
    out = np.array(arr, copy=True)
    out[index] = value
    return out


def _without_x_start(scan):
    scan.x_start = None
    return scan


X4 = np.arange(4.0)
D4 = np.ones((4, 8, 8), np.float32)
P8 = np.ones((8, 8), np.complex64)
S4 = np.zeros(4, int)

VALIDATION_CASES = {
    # the cases of the old ptycho test_validation_errors_name_the_problem
    "lengths": (lambda: Scan(D4, X4, X4[:3], P8, x_start=X4, y_start=X4, scan_index=S4), "matching shapes"),
    "positions_nan": (
        lambda: Scan(D4, _with(X4, [1, 2], [np.nan, np.inf]), X4, P8),
        r"xcoords contains 2 non-finite value\(s\).*drop those scan points",
    ),
    "patterns_nan": (
        lambda: Scan(_with(D4, (0, 0, slice(0, 3)), np.nan), X4, X4, P8),
        r"diff3d contains 3 non-finite value\(s\).*repair",
    ),
    "not_square": (lambda: Scan(np.ones((4, 8, 6)), X4, X4, P8), r"square.*\(4, 8, 6\)"),
    "count": (lambda: Scan(D4[:3], X4, X4, P8), "3 patterns but there are 4 scan positions"),
    "scan_index_length": (lambda: Scan(D4, X4, X4, P8, scan_index=S4[:2]), "scan_index has 2 entries"),
    "positions_2d": (lambda: Scan(D4, X4[:, None], X4[:, None], P8), "1-D"),
    "probe_4d": (lambda: Scan(D4, X4, X4, np.ones((2, 8, 8, 2))), "probeGuess"),
    "patterns_2d": (lambda: Scan(np.ones((4, 8)), X4, X4, P8), r"stack of diffraction patterns \(M, N, N\)"),
    # further checks
    "negative": (lambda: Scan(-D4, X4, X4, P8), r"diff3d contains 256 negative value\(s\).*np.clip"),
    "complex": (lambda: Scan(D4.astype(np.complex64), X4, X4, P8), "real amplitudes"),
    "probe_size": (lambda: Scan(D4, X4, X4, np.ones((16, 16))), "probeGuess is 16x16 but the diffraction patterns"),
    "object_3d": (lambda: Scan(D4, X4, X4, P8, object=np.ones((2, 3, 4))), "objectGuess must be a 2-D"),
    "scan_index_2d": (lambda: Scan(D4, X4, X4, P8, scan_index=S4[:, None]), r"scan_index must be 1-D"),
    "start_none": (lambda: _without_x_start(Scan(D4, X4, X4, P8)), "xcoords_start is None"),
}


@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_validation_errors_name_the_problem(case):
    make, message = VALIDATION_CASES[case]
    with pytest.raises(ScanError, match=message):
        make().validate()
    assert issubclass(ScanError, ValueError)


def test_validate_against_model_size_and_gridsize():
    scan = scan_of(np.arange(3.0))
    with pytest.raises(ScanError, match="8x8 patterns but the model is for N=16"):
        scan.validate(N=16)
    with pytest.raises(ScanError, match="3 points but gridsize 2 groups 4"):
        scan.validate(gridsize=2)
    assert scan.validate(N=8, gridsize=1) is scan
    no_patterns = Scan(None, np.arange(3.0), np.arange(3.0), np.ones((8, 8)))
    assert no_patterns.N == 8 and no_patterns.validate(N=8) is no_patterns
    with pytest.raises(ScanError, match="probeGuess is 8x8 but N = 16"):
        no_patterns.validate(N=16)
    with pytest.raises(ScanError, match="neither diffraction patterns nor a probe"):
        _ = Scan(None, np.arange(3.0), np.arange(3.0), None).N


def test_integer_counts_warn_but_are_not_square_rooted(caplog):
    x = np.arange(3.0)
    counts = np.full((3, 8, 8), 400, np.uint16)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        scan = scan_of(x, diffraction=counts).validate()
    assert scan.diffraction is counts  # kept as given: no silent sqrt
    text = caplog.text
    assert "raw detector counts" in text and "AMPLITUDES" in text and "np.sqrt(counts)" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        scan_of(x, diffraction=np.full((3, 8, 8), 400.0, np.float32)).validate()
    assert "whole-number float32" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        scan_of(x, diffraction=np.sqrt(counts.astype(np.float32)) + 0.5).validate()
    assert "counts" not in caplog.text


@pytest.mark.parametrize("photons", [3.0, 1e3, 1e8])
def test_squared_float_amplitudes_look_like_counts_and_amplitudes_do_not(photons):
    """Intensities made by squaring float32 amplitudes (not exactly whole) are recognised; the amplitudes not."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(photons * rng.random((8, 16, 16)))
    amplitudes = np.sqrt(counts).astype(np.float32)
    assert looks_like_counts(amplitudes) is None
    assert "whole-number float32" in looks_like_counts(np.square(amplitudes))
    assert "integer (int64)" in looks_like_counts(counts)
    assert looks_like_counts(np.zeros((2, 4, 4), np.float32)) is None  # all zero: nothing to tell


def test_probe_mode_stack_uses_mode_zero(caplog):
    x = np.arange(3.0)
    stack = (np.arange(3)[:, None, None] + 1j * np.ones((3, 8, 8))).astype(np.complex64)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        scan = scan_of(x, probe=stack)
    assert scan.probe.shape == (8, 8)
    np.testing.assert_array_equal(scan.probe, stack[0])
    assert "3 probe modes" in caplog.text and "mode 0" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        one = scan_of(x, probe=stack[:1])
        col = scan_of(x, probe=stack[0][..., None])
    assert caplog.text == ""
    np.testing.assert_array_equal(one.probe, stack[0])
    np.testing.assert_array_equal(col.probe, stack[0])
    mode = stack[0]
    assert as_probe_2d(None) is None and as_probe_2d(mode) is mode
    with pytest.raises(ScanError, match=r"myProbe must be a 2-D probe.*\(8,\)"):
        as_probe_2d(np.ones(8), "myProbe")


def test_check_diffraction_rows_names_the_pattern():
    rows = np.ones((3, 4, 4), np.float32)
    check_diffraction_rows(rows, np.array([10, 11, 12]))
    bad = rows.copy()
    bad[1, 2, 2] = np.nan
    with pytest.raises(ScanError, match="diffraction pattern 11 contains NaN or inf"):
        check_diffraction_rows(bad, np.array([10, 11, 12]))
    bad = rows.copy()
    bad[2, 0, 0] = -1
    with pytest.raises(ScanError, match="diffraction pattern 12 has negative values"):
        check_diffraction_rows(bad, np.array([10, 11, 12]))
    with pytest.raises(ScanError, match="real amplitudes"):
        check_diffraction_rows(rows.astype(np.complex64), np.array([10, 11, 12]))


def test_oriented_flips_swaps_then_scales_positions_and_starts():
    x, y = np.array([1.0, 2.0]), np.array([10.0, 20.0])
    scan = Scan(None, x, y, np.ones((4, 4), np.complex64), x_start=x + 0.5, y_start=y - 0.5)
    out = scan.oriented(flip_x=True, swap_xy=True, scale=2.0)
    np.testing.assert_array_equal(out.x, 2 * y)
    np.testing.assert_array_equal(out.y, -2 * x)
    np.testing.assert_array_equal(out.x_start, 2 * (y - 0.5))
    np.testing.assert_array_equal(out.y_start, -2 * (x + 0.5))
    np.testing.assert_array_equal(scan.x, x)  # the original scan is unchanged
    flipped = scan.oriented(flip_y=True)
    np.testing.assert_array_equal(flipped.y, -y)
    np.testing.assert_array_equal(flipped.x, x)
