#!/usr/bin/env bash
# The test suite: ci/test.sh [--fast] [pytest args...]
#
# Full run (CI): five passes, two at a time (PTYCHO_TEST_JOBS, default 2 = the cores of the CI machine),
# longest first: the cross-backend/once pass, then jax, tensorflow, torch, and the host-only pass, each process
# with one compute thread (PTYCHO_TEST_THREADS) so that the passes side by side share the cores. Every test
# that uses a backend runs under each of the three; backend-independent tests run once. JAX's persistent
# compilation cache is shared by every pass and subprocess of the run (a fresh folder per run, unless
# JAX_COMPILATION_CACHE_DIR is set). Ends with per-pass times and one line `total: N passed, N failed, ...`.
#
# --fast: the development loop, about a minute: the host-only pass and the backend tests not marked slow,
# under KERAS_BACKEND (default torch; jax reuses the compilation cache of earlier runs).
#
# Extra arguments go to every pytest call. Exits non-zero if any pass failed.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
fast=0
if [ "${1:-}" = "--fast" ]; then
    fast=1
    shift
fi
reports=$(mktemp -d)
export TF_CPP_MIN_LOG_LEVEL=2
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
start=$(date +%s)
status=0
if [ $fast = 1 ]; then
    # the developer's own JAX cache (tests/conftest.py: ~/.cache/ptychopinn-tests), warm from the last run
    backend="${KERAS_BACKEND:-torch}"
    case "$backend" in
        torch | tensorflow | jax) ;;
        *)
            echo "ci/test.sh: KERAS_BACKEND=$backend is not one of torch, tensorflow, jax" >&2
            rm -rf "$reports"
            exit 2
            ;;
    esac
    bash ci/phase.sh host "$reports" "$@" || status=1
    bash ci/phase.sh "$backend" "$reports" -m "not host and not slow and not cross_backend and not once" "$@" \
        || status=1
else
    # a cache of this run only, so the figures of a full run never depend on an earlier one
    export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$reports/jax-compilation-cache}"
    jobs="${PTYCHO_TEST_JOBS:-2}"
    if [ "$jobs" -gt 1 ]; then
        # One compute thread per process: two passes side by side then use the two cores without
        # oversubscribing them (spinning OpenMP/Eigen pools). Measured on 2 cores, two lanes of training tests:
        # 179 s with one thread each against 252 s with the libraries' defaults.
        threads="${PTYCHO_TEST_THREADS:-1}"
        export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
        export TF_NUM_INTRAOP_THREADS=$threads TF_NUM_INTEROP_THREADS=$threads
        if [ "$threads" = 1 ]; then
            export XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_multi_thread_eigen=false"
        fi
    fi
    printf '%s\n' cross jax tensorflow torch host \
        | xargs -P "$jobs" -I{} bash ci/phase.sh {} "$reports" "$@" || status=1
fi
"$py" - "$reports" $(($(date +%s) - start)) <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET

reports, wall = pathlib.Path(sys.argv[1]), int(sys.argv[2])
total = {"passed": 0, "failed": 0, "skipped": 0}
print(f"\n{'pass':12s} {'seconds':>8s} {'passed':>7s} {'failed':>7s} {'skipped':>8s}")
for rc_file in sorted(reports.glob("*.rc"), key=lambda p: p.stat().st_mtime):
    name, xml = rc_file.stem, reports / f"{rc_file.stem}.xml"
    tests = failed = skipped = 0
    if xml.is_file():
        for suite in ET.parse(xml).getroot().iter("testsuite"):
            tests += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = tests - failed - skipped
    if rc_file.read_text().strip() != "0" and failed == 0:
        failed = 1  # the pass itself failed (no report, collection error, or pytest exited early)
        print(f"pass {name} exited with {rc_file.read_text().strip()} without a failed test: counted as 1 failure")
    seconds = (reports / f"{name}.seconds").read_text().strip()
    print(f"{name:12s} {seconds:>8s} {passed:7d} {failed:7d} {skipped:8d}")
    total["passed"] += passed
    total["failed"] += failed
    total["skipped"] += skipped
print(f"wall time {wall} s")
print(f"total: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
PY
rm -rf "$reports"
exit $status
