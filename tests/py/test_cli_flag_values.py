"""Values of -t, -c and -n that cannot work end the command with an error that names
the flag and says what was expected (no crash, no misleading range), and a context
larger than memory allows says how much it needs and how much there is."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_cli_flag_values"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
source = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")
cores = os.cpu_count() or 1


def expect_error(args, *needles):
    what = " ".join(args[:1] + args[3:])
    try:
        proc = subprocess.run([exe] + args, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, f"{what}: ends with an error (it ran on for 60 s)")
        return
    err = proc.stderr.decode("utf-8", errors="replace")
    # 1: the command's own error; CLI11's validation errors have their own status. Never a signal.
    check(proc.returncode > 0, f"{what}: exits with an error status (got {proc.returncode})")
    check(all(n in err for n in needles), f"{what}: the error says {needles} (got {err.strip()[-400:]!r})")
    check("terminate called" not in err and "bad_alloc" not in err, f"{what}: no crash")


text = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
text.write("Q: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\nA: 19\n")
text.close()
run = ["run", "-m", model, "-p", "Q:"]
for command in (run, ["chat", "-m", model], ["serve", "-m", model, "--port", "0"], ["bench", "-m", model, "-p", "0"],
                ["calibrate", "-m", model, "--text", text.name, "-o", text.name + ".json"]):
    for threads in ("-1", str(4 * cores + 1), "100000"):
        expect_error(command + ["-t", threads], "--threads", "threads must be 0 (one per core) or 1 to")
expect_error(["bench", "-m", model, "-p", "0", "-t", "1,-1"], "--threads", "got -1")  # each count of the list
for command in (run, ["chat", "-m", model], ["serve", "-m", model, "--port", "0"]):
    expect_error(command + ["-c", "-5"], "--ctx-size", "the context size must be a number of positions")
    expect_error(command + ["-n", "0"], "--n-predict", "the number of tokens to generate must be at least 1, got 0")
    expect_error(command + ["-n", "-3"], "--n-predict", "at least 1, got -3")

# Far beyond any machine's memory: refused at load, naming what it needs and what there is.
expect_error(run + ["-c", "2000000000", "-t", "1"], "a context of 2000000000 positions needs", "GiB",
             "of memory is available", "-c")

# What works still works: 0 threads is one per core, 4 x the cores is accepted.
proc = subprocess.run([exe] + run + ["-n", "2", "-t", "0", "--sampler", "greedy", "-c", "64"], capture_output=True,
                      timeout=120)
check(proc.returncode == 0, f"-t 0 runs on one thread per core (status {proc.returncode})")
proc = subprocess.run([exe] + run + ["-n", "2", "-t", str(4 * cores), "--sampler", "greedy", "-c", "64"],
                      capture_output=True, timeout=120)
check(proc.returncode == 0, f"-t {4 * cores} (4 x the cores) runs (status {proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace')[-200:]!r}")

for leftover in (text.name, text.name + ".json"):
    if os.path.exists(leftover):
        os.remove(leftover)
sys.exit(check.status())
