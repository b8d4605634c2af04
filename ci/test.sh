#!/usr/bin/env bash
# Run the suite once per backend (KERAS_BACKEND=torch, tensorflow, jax), then the cross-backend comparison
# (which spawns one process per backend itself). Every run executes even if an earlier one fails; the script
# exits non-zero if any failed. Extra arguments go to every pytest call.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
reports=$(mktemp -d)
status=0
for backend in torch tensorflow jax; do
    echo "=== pytest, KERAS_BACKEND=$backend"
    KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=2 "$py" -m pytest -m "not cross_backend and not once" -q -p no:cacheprovider \
        --junitxml="$reports/$backend.xml" "$@" || status=1
done
echo "=== pytest, cross-backend comparison"
TF_CPP_MIN_LOG_LEVEL=2 "$py" -m pytest -m "cross_backend or once" -q -s -p no:cacheprovider \
    --junitxml="$reports/cross.xml" "$@" || status=1
"$py" - "$reports" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
print(f"all backends: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit $status
