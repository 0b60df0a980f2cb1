#!/usr/bin/env bash
# After training: turns a checkpoint into everything the repository ships with the
# demo model, and measures it with the engine.
#   tools/demo_model/refresh.sh CHECKPOINT [OUT_DIR]
# Writes models/demo/demo-{f32,q8_0}.gguf, their calibrated profiles, the test
# fixture tests/data/demo/reference.json, and into OUT_DIR (default
# tools/demo_model/work/refresh) the engine's greedy evaluation of both held-out
# sets and the report on the model's own use of " Wait,". Needs a built entropix
# (BUILD_DIR, default build) and Debian's python3 with torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
ckpt="${1:?usage: tools/demo_model/refresh.sh CHECKPOINT [OUT_DIR]}"
out="${2:-tools/demo_model/work/refresh}"
exe="${BUILD_DIR:-build}/entropix"
py=/usr/bin/python3
mkdir -p "$out"

$py tools/demo_model/export_gguf.py --ckpt "$ckpt"
$py tools/demo_model/make_fixture.py --ckpt "$ckpt"
for type in f32 q8_0; do
  # Varentropy over the uncertain tokens, else HELV never occurs on this confident
  # model; thinking inserted at the end of a step (profile-base.json), the form in
  # which the model learned its corrections.
  "$exe" calibrate -m "models/demo/demo-$type.gguf" --text data/tasks/calibration.txt \
    --varentropy-over uncertain --base tools/demo_model/profile-base.json \
    -o "models/demo/demo-$type.profile.json" -t 2
done
for set in test-in test-hard; do
  "$exe" eval -m models/demo/demo-q8_0.gguf --tasks "data/tasks/$set.jsonl" --strategies greedy \
    -n 160 -t 2 -o "$out/greedy-$set"
  $py tools/demo_model/wait_report.py "$out/greedy-$set/results.json" --show 5
done
