#!/usr/bin/env bash
# Runs pytest from the project's venv. pytest exits 5 when it collected no
# test; that is a failure of the suite here, not a pass, so it is reported
# plainly rather than hidden.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: check the -m/-k selection and tests/" >&2
fi
exit $rc
