#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in build-fuzz and runs
# fuzz_gguf for the given number of seconds (default 60) on a corpus seeded with
# small valid GGUF files and the regression files in tests/data/gguf.
#   scripts/fuzz.sh [seconds] [extra libFuzzer flags...]
# Findings land in build-fuzz/artifacts/; turn each into a file in tests/data/gguf.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
build=build-fuzz

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DENTROPIX_FUZZ=ON -DENTROPIX_TESTS=OFF
fi
cmake --build "$build" --target fuzz_gguf make_gguf_seeds -j"${FUZZ_JOBS:-2}"

corpus="$build/corpus/gguf"
mkdir -p "$corpus" "$build/artifacts"
"$build/tests/fuzz/make_gguf_seeds" "$corpus"
cp tests/data/gguf/*.gguf "$corpus"/ 2>/dev/null || true

"$build/tests/fuzz/fuzz_gguf" "$corpus" -dict=tests/fuzz/gguf.dict -max_len=8192 -timeout=10 \
  -rss_limit_mb=2048 -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$build/artifacts/" "$@"
