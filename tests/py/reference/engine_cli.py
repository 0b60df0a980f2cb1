"""Running the `entropix` binary from the Python tests: where it is, where the test
data is, and the subcommands the tests compare with (gen-model, logits, tokenize, run)."""
import ast
import os
import subprocess
import sys

import numpy as np

SKIP = 77  # ctest's SKIP_RETURN_CODE for the Python tests


def skip(test, reason):
    print(f"SKIPPED {test}: {reason}")
    sys.exit(SKIP)


def binary(test):
    path = os.environ.get("ENTROPIX_BINARY")
    if not path or not os.path.exists(path):
        skip(test, f"ENTROPIX_BINARY ({path!r}) is not a built entropix binary (run through ctest)")
    return path


def testdata_dir():
    """ENTROPIX_TESTDATA if set, else the configured default, else ../shared/testdata."""
    for var in ("ENTROPIX_TESTDATA", "ENTROPIX_DEFAULT_TESTDATA"):
        if os.environ.get(var):
            return os.environ[var]
    source = os.environ.get("ENTROPIX_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    return os.path.join(source, "..", "shared", "testdata")


def run(args, timeout=600):
    """stdout of a command; a failure raises with the command and its stderr."""
    proc = subprocess.run(args, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited with {proc.returncode}:\n"
                           f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode("utf-8", errors="replace")


def gen_model(exe, path, shape, arch, ggml_type, seed):
    run([exe, "gen-model", "--shape", shape, "--arch", arch, "--type", ggml_type, "-o", path, "--seed", str(seed)])


def logits(exe, model, tokens, out_path, n_vocab, cache_type=None):
    """The engine's float32 logits of every position: [len(tokens)][n_vocab]; cache_type
    "f32" or "f16" chooses the KV cache's storage (the engine's default when None)."""
    extra = ["--cache-type", cache_type] if cache_type else []
    run([exe, "logits", "-m", model, "--tokens", ",".join(map(str, tokens)), "-o", out_path] + extra)
    values = np.fromfile(out_path, dtype=np.float32)
    if values.size != len(tokens) * n_vocab:
        raise RuntimeError(f"{out_path}: {values.size} floats, expected {len(tokens)} x {n_vocab}")
    return values.reshape(len(tokens), n_vocab)


def tokenize_ids(exe, model, text):
    """Token ids of text as `tokenize --ids` prints them: a Python-style list."""
    return [int(t) for t in ast.literal_eval(run([exe, "tokenize", "-m", model, "-p", text, "--ids"]).strip())]
