#!/usr/bin/env bash
# Installs what is missing, builds in Release and runs the demo model on a
# word problem with the entropy-guided sampler.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
prompt='Q: Mia has 23 shells. She finds 18 more and gives 9 to Leo. How many shells does Mia have?
A:'
./build/entropix run -m models/demo/demo-q8_0.gguf -p "$prompt" -n 64 "$@"
