#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in build-fuzz and runs one of
# them for the given number of seconds (default 60), on its own corpus in
# build-fuzz/corpus/<target>:
#   gguf       the GGUF reader; seeds: small valid files from make_gguf_seeds and the
#              regression files in tests/data/gguf
#   jinja      the chat-template interpreter; seeds: the real templates in
#              $ENTROPIX_TESTDATA/chat-templates (default ../shared/testdata) and the
#              regression templates in tests/data/jinja, and the inputs of earlier runs
#              that reached the most code in tests/data/jinja/corpus
#   request    the OpenAI request parser (the first byte picks the endpoint: odd for chat
#              completions, even for completions); seeds: tests/data/request
#   tool_calls the tool-call reader, whole answers against streamed ones (the first byte
#              picks the format, the second how the answer is cut); seeds: tests/data/tool_calls
#   tokenizer  the pre-tokenizers and the BPE and SentencePiece tokenizers, synthetic and
#              the real vocabularies in $ENTROPIX_TESTDATA/vocab; seeds: tests/data/tokenizer
#   scripts/fuzz.sh [target] [seconds] [extra libFuzzer flags...]   (target: gguf when left out)
# Findings land in build-fuzz/artifacts/<target>/; turn each into a regression file
# (tests/data/<target>) and a test. To fold what a run found into the kept seeds (only
# inputs that add coverage are copied; keep a few dozen files at most):
#   build-fuzz/tests/fuzz/fuzz_<target> -merge=1 tests/data/<target> build-fuzz/corpus/<target>
# or, to keep only the few inputs that reach the most code, tools/fuzz_pick_seeds.py (its
# header says how).
set -euo pipefail
cd "$(dirname "$0")/.."
target=gguf
case "${1:-}" in
  gguf | jinja | request | tool_calls | tokenizer) target="$1"; shift ;;
  "" | [0-9]*) ;;  # seconds first: the gguf target, as before targets were named
  *) echo "usage: scripts/fuzz.sh [gguf|jinja|request|tool_calls|tokenizer] [seconds] [libFuzzer flags...]" >&2; exit 2 ;;
esac
seconds="${1:-60}"
shift || true
build=build-fuzz

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DENTROPIX_FUZZ=ON -DENTROPIX_TESTS=OFF
fi

corpus="$build/corpus/$target"
artifacts="$build/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
case "$target" in
  gguf)
    cmake --build "$build" --target fuzz_gguf make_gguf_seeds -j"${FUZZ_JOBS:-2}"
    "$build/tests/fuzz/make_gguf_seeds" "$corpus"
    cp tests/data/gguf/*.gguf "$corpus"/ 2>/dev/null || true
    flags=(-dict=tests/fuzz/gguf.dict -max_len=8192)
    ;;
  jinja)
    cmake --build "$build" --target fuzz_jinja -j"${FUZZ_JOBS:-2}"
    cp "${ENTROPIX_TESTDATA:-../shared/testdata}"/chat-templates/*.jinja "$corpus"/ 2>/dev/null || true
    cp tests/data/jinja/*.jinja tests/data/jinja/corpus/* "$corpus"/ 2>/dev/null || true
    # Real templates run to 7 KB; a render may take up to its 1 s limit.
    flags=(-dict=tests/fuzz/jinja.dict -max_len=16384)
    ;;
  request)
    cmake --build "$build" --target fuzz_request -j"${FUZZ_JOBS:-2}"
    cp tests/data/request/* "$corpus"/
    flags=(-dict=tests/fuzz/request.dict -max_len=4096)
    ;;
  tool_calls)
    cmake --build "$build" --target fuzz_tool_calls -j"${FUZZ_JOBS:-2}"
    cp tests/data/tool_calls/* "$corpus"/
    flags=(-dict=tests/fuzz/tool_calls.dict -max_len=2048)
    ;;
  tokenizer)
    cmake --build "$build" --target fuzz_tokenizer -j"${FUZZ_JOBS:-2}"
    cp tests/data/tokenizer/* "$corpus"/
    export ENTROPIX_TESTDATA="${ENTROPIX_TESTDATA:-../shared/testdata}"
    # Every input goes through 20-odd tokenizers: short texts keep the rate up.
    flags=(-dict=tests/fuzz/tokenizer.dict -max_len=1024)
    ;;
esac

# 30 s per input: a chat template may use its whole render limit, 10 s under ASan.
"$build/tests/fuzz/fuzz_$target" "$corpus" "${flags[@]}" -timeout=30 \
  -rss_limit_mb=2048 -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@"
