#!/usr/bin/env bash
# Lint, format and type checks (seconds to a minute): ruff check, ruff format --check, mypy over ptycho_core
# and ptychopinn. The same checks as .pre-commit-config.yaml. Exits non-zero on the first failing check.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "=== ruff check"
.venv/bin/ruff check .
echo "=== ruff format --check"
.venv/bin/ruff format --check .
echo "=== mypy"
.venv/bin/mypy
