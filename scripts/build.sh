#!/usr/bin/env bash
# Configures and builds entropix. BUILD_DIR (default build) and extra CMake
# arguments may be given: scripts/build.sh -DENTROPIX_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
