"""The commands that print JSON keep working when what they print is not UTF-8:
`bench --json` on a model whose GGUF general.name holds a byte that is not UTF-8,
and `list --json` on a cache holding a file whose name is not UTF-8. Both must
exit 0 and print JSON that parses, with U+FFFD where the bad byte was (a plain
dump would throw at the end of the run and print nothing)."""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_json_not_utf8"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
REPLACEMENT = "\ufffd"


def spoil_general_name(path):
    """Overwrites the first byte of the general.name string value with 0xFF, in place."""
    with open(path, "r+b") as f:
        data = f.read(1 << 20)
        key = b"general.name"
        at = data.find(struct.pack("<Q", len(key)) + key)
        if at < 0:
            raise RuntimeError(f"{path}: no general.name key")
        vtype, vlen = struct.unpack_from("<IQ", data, at + 8 + len(key))
        if vtype != 8 or vlen == 0:  # 8: GGUF string
            raise RuntimeError(f"{path}: general.name is not a non-empty string")
        f.seek(at + 8 + len(key) + 12)
        f.write(b"\xff")


with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "tiny.gguf")
    engine_cli.gen_model(exe, model, "tiny", "llama", "q8_0", 1)
    spoil_general_name(model)
    proc = subprocess.run([exe, "bench", "-m", model, "-p", "8", "-n", "2", "-r", "1", "-t", "1", "--json"],
                          capture_output=True, timeout=300)
    check(proc.returncode == 0, f"bench --json exits 0 (got {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]})")
    try:
        rows = json.loads(proc.stdout.decode("utf-8"))
        names = {r.get("model") for r in rows}
        check(len(rows) >= 2 and all(REPLACEMENT in n for n in names),
              f"bench --json names the model with U+FFFD for the bad byte (got {names})")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        check(False, f"bench --json prints UTF-8 JSON ({e})")

    cache = os.path.join(tmp, "cache")
    repo = os.path.join(cache, "models", "someone", "repo")
    os.makedirs(repo)
    bad_name = os.fsencode(repo) + b"/tiny-\xff-Q8_0.gguf"
    with open(model, "rb") as src, open(bad_name, "wb") as dst:
        dst.write(src.read())
    env = dict(os.environ, ENTROPIX_CACHE=cache)
    proc = subprocess.run([exe, "list", "--json"], capture_output=True, timeout=60, env=env)
    check(proc.returncode == 0, f"list --json exits 0 (got {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]})")
    try:
        listed = json.loads(proc.stdout.decode("utf-8"))
        check(len(listed) == 1 and REPLACEMENT in listed[0]["file"] and listed[0]["repo"] == "someone/repo",
              f"list --json lists the file with U+FFFD for the bad byte (got {listed})")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        check(False, f"list --json prints UTF-8 JSON ({e})")

sys.exit(check.status())
