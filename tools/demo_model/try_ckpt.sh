#!/usr/bin/env bash
# Measures a candidate checkpoint with the engine before it is shipped: exports it
# (Q8_0) into OUT_DIR, runs greedy decoding over the validation problems (not the
# held-out test sets, so that choosing a checkpoint does not tune on them) and
# reports accuracy and the model's own use of " Wait,".
#   tools/demo_model/try_ckpt.sh CHECKPOINT OUT_DIR [TASKS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ckpt="${1:?usage: tools/demo_model/try_ckpt.sh CHECKPOINT OUT_DIR [TASKS]}"
out="${2:?usage: tools/demo_model/try_ckpt.sh CHECKPOINT OUT_DIR [TASKS]}"
tasks="${3:-tools/demo_model/work/val.jsonl}"
exe="${BUILD_DIR:-build}/entropix"
py=/usr/bin/python3
mkdir -p "$out"
$py tools/demo_model/export_gguf.py --ckpt "$ckpt" --out-dir "$out" --types q8_0 > "$out/export.log"
"$exe" eval -m "$out/demo-q8_0.gguf" --tasks "$tasks" --strategies greedy -n 160 -t "${THREADS:-1}" \
  -o "$out/greedy" | tail -1
$py tools/demo_model/wait_report.py "$out/greedy/results.json" --show 3
