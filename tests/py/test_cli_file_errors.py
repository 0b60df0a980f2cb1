"""Files given on the command line that cannot be read end the command with status 1
and an error naming the path, before any model is loaded: `calibrate --text` with a
directory or a missing file, `run -f` with a directory."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_cli_file_errors"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
source = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")


def expect_error(args, *needles):
    proc = subprocess.run([exe] + args, capture_output=True, timeout=60)
    err = proc.stderr.decode("utf-8", errors="replace")
    check(proc.returncode == 1, f"{' '.join(args[:1])}: exits 1 (got {proc.returncode})")
    check(all(n in err for n in needles), f"{' '.join(args[:1])}: the error says {needles} (got {err.strip()!r})")


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "p.json")
    expect_error(["calibrate", "-m", model, "--text", tmp, "-o", out],
                 f"reference text {tmp}: expected a file, found a directory")
    missing = os.path.join(tmp, "missing.txt")
    expect_error(["calibrate", "-m", model, "--text", missing, "-o", out],
                 f"cannot read reference text {missing}", "No such file")
    expect_error(["run", "-m", model, "-f", tmp], f"prompt file {tmp}: expected a file, found a directory")
    check(not os.path.exists(out), "no profile is written")

sys.exit(check.status())
