"""`entropix chat` with stdout a pipe writes no colour escapes (`--color auto`, the
default, colours only a terminal), and `--color always` does colour the inserted
thinking text, as `run` does. A profile that puts the first step in HELV makes the
sampler insert " Wait," at once, so there is inserted text to colour."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_chat_colour"
check = Checks(TEST)
ESC = b"\x1b"


def chat(exe, model, profile, *extra):
    """stdout and status of one piped chat turn."""
    question = "Mia has 23 shells. She finds 18 more and gives 9 to Leo. How many shells does Mia have?\n"
    proc = subprocess.run([exe, "chat", "-m", model, "--profile", profile, "-n", "12", "-t", "1", "--seed", "1",
                           *extra], input=question.encode(), capture_output=True, timeout=120)
    return proc.stdout, proc.returncode, proc.stderr.decode("utf-8", errors="replace")


def main():
    exe = engine_cli.binary(TEST)
    source = os.environ.get("ENTROPIX_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")
    with tempfile.TemporaryDirectory() as tmp:
        # Every step HELV (H above a tiny entropy_high, V below a huge varentropy_low),
        # one insertion per answer, at the step itself.
        profile = os.path.join(tmp, "helv.profile.json")
        with open(profile, "w") as f:
            json.dump({"thresholds": {"entropy_low": 0.0, "entropy_high": 1e-12,
                                      "varentropy_low": 1000.0, "varentropy_high": 2000.0},
                       "helv": {"thinking_budget": 1, "boundary": ""}}, f)

        out, rc, err = chat(exe, model, profile)
        check(rc == 0, f"chat into a pipe exits 0 (got {rc}: {err[-300:]})")
        check(b" Wait," in out, f"the sampler inserted its thinking text: {out[:120]!r}")
        check(ESC not in out, f"no escape byte in piped output (--color auto): {out[:120]!r}")

        out, rc, err = chat(exe, model, profile, "--color", "never")
        check(rc == 0 and ESC not in out, f"--color never: no escape byte: {out[:120]!r}")

        out, rc, err = chat(exe, model, profile, "--color", "always")
        check(rc == 0, f"--color always exits 0 (got {rc}: {err[-300:]})")
        check(b"\x1b[1;34m Wait,\x1b[0m" in out, f"--color always colours the inserted text: {out[:120]!r}")

    sys.exit(check.status())


if __name__ == "__main__":
    main()
