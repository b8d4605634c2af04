"""The benchmark suite runs (short mode) and its option parsing holds; its figures are never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.bench_model import config_label, format_configs, parse_configs  # noqa: E402


def test_configs_parse_with_and_without_patch_size():
    assert parse_configs("1x16,2x8@128") == ((1, 16, 64), (2, 8, 128))
    assert parse_configs("none") == ()
    assert format_configs(((1, 16, 64), (2, 8, 128))) == "1x16,2x8@128"
    assert config_label(1, 16, 64) == "gs1 b16" and config_label(2, 8, 128) == "N128 gs2 b8"
    for bad in ("1x", "x16", "1x16@", "0x16", "1x16@-4"):
        with pytest.raises(Exception, match="GRIDSIZExBATCH"):
            parse_configs(bad)


@pytest.mark.once
def test_quick_suite_runs_on_every_backend(tmp_path):
    """``python -m benchmarks --quick``: every part, every backend, exit 0, JSON with finite figures."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--backends",
            "torch,tensorflow,jax",
            "--out-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    suite = json.loads((tmp_path / "suite.json").read_text())
    assert [p["part"] for p in suite["parts"]] == ["physics", "model", "grouping", "streaming"]
    for part in ("physics", "model"):
        results = json.loads((tmp_path / f"{part}.json").read_text())["results"]
        assert sorted(r["backend"] for r in results) == ["jax", "tensorflow", "torch"], part
        for payload in results:
            assert payload["records"] and all(r["value"] > 0 for r in payload["records"]), (part, payload)
    grouping = json.loads((tmp_path / "grouping.json").read_text())["results"]
    measured = {r["measurement"] for p in grouping for r in p["records"]}
    assert measured == {"groups", "grouped data"}
    streaming = json.loads((tmp_path / "streaming.json").read_text())["results"]
    assert sorted({r["backend"] for r in streaming}) == ["jax", "tensorflow", "torch"]
    for r in streaming:
        assert r["finite"] and r["patterns_per_s"] > 0 and r["rise_mib"] > 0, r
