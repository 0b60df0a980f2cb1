#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# Tests that need ../shared/testdata (or $ENTROPIX_TESTDATA) are skipped by name
# when it is absent; .ci/run requires it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh "$@"
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j"$(nproc)"
