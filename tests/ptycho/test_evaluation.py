"""ptycho.evaluation against goldens computed with the original PtychoPINN (tests/fixtures/original_evaluation).

Tolerances are those of the fixture's README: relative ``max|new − gold| / max|gold| ≤ 1e-4`` for every float,
except the FRC rings outside the inscribed circle (index > (len − 1)/√2), which need ``abs ≤ 2e-3``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from ptycho import evaluation, params

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original_evaluation" / "cases.npz"
CASES = ("p1_sq64_noise", "p2_rect128x96_phase", "p3_sq200_shift_scale")
METRICS = ("mae", "mse", "psnr", "ssim", "ms_ssim", "frc50", "frc1over7", "frc")
REL, CORNER_ABS = 1e-4, 2e-3


@pytest.fixture(scope="module")
def gold():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _rel(new, gold) -> float:
    new, gold = np.asarray(new, np.float64), np.asarray(gold, np.float64)
    assert new.shape == gold.shape
    return float(np.max(np.abs(new - gold)) / np.max(np.abs(gold)))


def _check_curve(new, gold) -> None:
    new, gold = np.asarray(new, np.float64), np.asarray(gold, np.float64)
    assert new.shape == gold.shape
    inside = np.arange(len(gold)) <= (len(gold) - 1) / np.sqrt(2)
    assert _rel(new[inside], gold[inside]) <= REL
    assert np.max(np.abs(new[~inside] - gold[~inside])) <= CORNER_ABS


def _inputs(gold, case):
    get = lambda name: gold[f"in__{case}__{name}"]
    return get, json.loads(str(get("description")))


@pytest.mark.parametrize("case", CASES)
def test_eval_reconstruction_matches_the_original(gold, case, tmp_path, monkeypatch):
    get, description = _inputs(gold, case)
    monkeypatch.chdir(tmp_path)
    params.cfg["offset"] = int(get("params_offset"))
    result = evaluation.eval_reconstruction(get("stitched_obj"), get("ground_truth_obj"), **description["kwargs"])

    assert sorted(result) == list(gold[f"out__{case}__eval__keys"])
    for metric in METRICS:
        assert isinstance(result[metric], tuple) and len(result[metric]) == 2
        for item, part in zip(result[metric], ("amp", "phase"), strict=True):
            expected = gold[f"out__{case}__eval__{metric}__{part}"]
            if metric == "frc":
                assert isinstance(item, np.ndarray) and item.dtype == np.float64
                _check_curve(item, expected)
            else:
                assert _rel(item, expected) <= REL, (metric, part, item, expected)
    for metric in ("psnr", "frc50", "frc1over7"):
        assert all(type(v) is float for v in result[metric])
    assert all(isinstance(v, np.float64) for v in result["ssim"] + result["ms_ssim"])
    if description["dtype"] == "complex64":  # the original's float32 amplitude path
        assert result["mae"][0].dtype == np.float32

    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    expected_files = list(gold.get(f"out__{case}__eval__debug_files", []))
    assert written == sorted(expected_files)


@pytest.mark.parametrize("case", CASES)
def test_helpers_match_the_original(gold, case):
    get, description = _inputs(gold, case)
    out = lambda name: gold[f"out__{case}__{name}"]
    frc_sigma = description["kwargs"].get("frc_sigma", 0)
    ms_ssim_sigma = description["kwargs"].get("ms_ssim_sigma", 1.0)
    amp_t, amp_p = get("helper_amp_target"), get("helper_amp_pred")
    phase_t, phase_p = get("helper_phase_target"), get("helper_phase_pred")

    assert _rel(evaluation.fit_and_remove_plane(phase_p), out("fit_and_remove_plane__value")) <= REL
    aligned = evaluation.fit_and_remove_plane(phase_p, reference_phase=phase_t)
    assert _rel(aligned, out("fit_and_remove_plane_ref__value")) <= REL

    curve, value = evaluation.frc50(amp_t, amp_p, frc_sigma=frc_sigma)
    _check_curve(curve, out("frc50__curve"))
    assert type(value) is float and _rel(value, out("frc50__value")) <= REL
    curve, f50, f17 = evaluation.frc_cutoffs(phase_t, phase_p, frc_sigma=frc_sigma)
    _check_curve(curve, out("frc_cutoffs__curve"))
    assert _rel(f50, out("frc_cutoffs__frc50")) <= REL and _rel(f17, out("frc_cutoffs__frc1over7")) <= REL

    assert _rel(evaluation.ms_ssim(amp_t, amp_p, levels=5, sigma=ms_ssim_sigma), out("ms_ssim__value")) <= REL
    assert _rel(evaluation.mae(amp_t, amp_p, normalize=True), out("mae_norm__value")) <= REL
    assert _rel(evaluation.mse(amp_t, amp_p, normalize=True), out("mse_norm__value")) <= REL
    assert _rel(evaluation.psnr(amp_t, amp_p, normalize=True, shift=True), out("psnr_norm_shift__value")) <= REL
    assert _rel(evaluation.psnr(phase_t, phase_p, normalize=False, shift=False), out("psnr_phase_raw__value")) <= REL


def test_psnr_has_a_fixed_peak_of_255():
    target = np.zeros((8, 8))
    assert evaluation.psnr(target, target + 0.1, normalize=False) == pytest.approx(20 * np.log10(255 / 0.1), rel=1e-6)
    assert evaluation.psnr(target + 1, target + 1) == 361.20199909921956  # OpenCV's value for MSE 0
    # normalize: the scale comes from the unshifted arrays; shift: the joint minimum is removed before scaling
    t, p = np.array([[1.0, 3.0]]), np.array([[2.0, 4.0]])
    expected_mse = np.mean((t - 1 - (2 / 3) * (p - 1)) ** 2)
    assert evaluation.psnr(t, p, shift=True) == pytest.approx(10 * np.log10(255**2 / expected_mse), rel=1e-6)


def test_ms_ssim_levels_weights_and_clamps():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    a = rng.random((20, 20))
    b = a + 0.2 * rng.random((20, 20))
    data_range = max(np.ptp(a), np.ptp(b))
    # 20 → 10 → 5: the loop stops after two levels and drops the other weights
    expected = structural_similarity(a, b, data_range=data_range) ** 0.0448
    expected *= structural_similarity(a[::2, ::2], b[::2, ::2], data_range=data_range) ** 0.2856
    assert evaluation.ms_ssim(a, b) == pytest.approx(expected, rel=1e-12)
    assert evaluation.ms_ssim(a, a) == pytest.approx(1.0)
    with pytest.warns(RuntimeWarning, match="negative SSIM"):
        assert evaluation.ms_ssim(a, 1 - a, levels=1) == pytest.approx(1e-4**0.0448)


def test_frc_edge_cases_and_crossings():
    rng = np.random.default_rng(1)
    image = rng.random((16, 16))
    curve, f50, f17 = evaluation.frc_cutoffs(image, image)
    assert np.allclose(curve, 1.0) and len(curve) == round(np.sqrt(2) * 8) + 1
    assert f50 == f17 == float(len(curve))  # never below
    assert evaluation.frc_cutoffs(np.zeros((8, 8)), image[:8, :8])[0] is None
    assert np.isnan(evaluation.frc50(np.zeros((8, 8)), image[:8, :8])[1])
    with pytest.raises(ValueError):
        evaluation.frc50(image, np.full((16, 16), np.nan))
    from ptycho_core.evaluation import first_crossing

    assert first_crossing(np.array([1.0, 0.8, 0.4, 0.1]), 0.5) == pytest.approx(1.75)
    assert first_crossing(np.array([0.2, 0.1]), 0.5) == 0.0
    assert np.isnan(first_crossing(np.array([np.nan, np.nan]), 0.5))


def test_plane_removal_and_crop_follow_cfg():
    rows, cols = np.meshgrid(np.arange(12), np.arange(10), indexing="ij")
    plane = 0.1 * cols - 0.2 * rows + 0.5
    assert np.allclose(evaluation.fit_and_remove_plane(plane), 0, atol=1e-12)
    assert np.allclose(evaluation.fit_and_remove_plane(np.zeros((12, 10)), reference_phase=plane), plane)
    params.cfg["offset"] = 6
    assert evaluation.trim(plane).shape == (6, 4)
    params.cfg["offset"] = 3
    with pytest.raises(AssertionError):
        evaluation.trim(plane)


def test_eval_reconstruction_input_checks_and_empty_label(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    truth = (1 + rng.random((24, 24, 1))) * np.exp(1j * rng.random((24, 24, 1)))
    with pytest.raises(AssertionError):
        evaluation.eval_reconstruction(truth[..., 0], truth)
    with pytest.raises(AssertionError):
        evaluation.eval_reconstruction(truth[:20], truth)
    with pytest.raises(ValueError, match="phase_align_method"):
        evaluation.eval_reconstruction(truth, truth, phase_align_method="median")
    monkeypatch.chdir(tmp_path)
    result = evaluation.eval_reconstruction(np.stack([truth, 0 * truth]), truth, debug_save_images=True)
    assert result["mse"][0] < 1e-12 and result["ssim"][0] == pytest.approx(1.0)  # batch item 0 is used
    names = sorted(p.name for p in (tmp_path / "debug_images").iterdir())
    assert names[0] == "amp_pred_for_frc.png" and len(names) == 8
