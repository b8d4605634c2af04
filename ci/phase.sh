#!/usr/bin/env bash
# One pass of the test suite: ci/phase.sh PASS REPORTS_DIR [pytest args...], PASS one of
#   host        the backend-independent tests (HOST_ONLY in tests/conftest.py), once, every framework refused
#   torch|tensorflow|jax   every other test under that KERAS_BACKEND
#   cross       tests marked cross_backend or once (they spawn one process per backend themselves)
# Writes REPORTS_DIR/PASS.{log,xml,seconds,rc} and prints the log when the pass ends (passes may run side by
# side; see ci/test.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
pass=$1 reports=$2
shift 2
py=.venv/bin/python
case "$pass" in
    host | torch | tensorflow | jax | cross) ;;
    *)
        echo "ci/phase.sh: unknown pass '$pass' (host, torch, tensorflow, jax or cross)" >&2
        exit 2
        ;;
esac
common=(-q -p no:cacheprovider --durations=8 --junitxml="$reports/$pass.xml")
start=$(date +%s)
case "$pass" in
    host) env -u KERAS_BACKEND "$py" -m pytest --host-only "${common[@]}" "$@" ;;
    torch | tensorflow | jax)
        KERAS_BACKEND=$pass "$py" -m pytest -m "not host and not cross_backend and not once" "${common[@]}" "$@" ;;
    cross) "$py" -m pytest -m "cross_backend or once" -s "${common[@]}" "$@" ;;
esac >"$reports/$pass.log" 2>&1
rc=$?
echo $(($(date +%s) - start)) >"$reports/$pass.seconds"
echo $rc >"$reports/$pass.rc"
{
    echo "=== pytest pass '$pass' (exit $rc, $(cat "$reports/$pass.seconds") s)"
    cat "$reports/$pass.log"
} | cat  # one write of the whole log, so side-by-side passes do not interleave their lines
exit $rc
