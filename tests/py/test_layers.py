"""The folders of src/ are layers: a file includes headers from its own folder and
from folders below it, never from one above. The order is the one of the README's
architecture map (its rows from `src/core` down to `src/cli`), so the map and the
code cannot drift apart: a new folder must take its place in the map, and an
include that reaches up fails here, naming the file and the line."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference.checks import Checks  # noqa: E402

TEST = "test_layers"
check = Checks(TEST)
root = os.environ.get("ENTROPIX_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
src = os.path.join(root, "src")


def layer_order(readme_text):
    """The src/ folders in the order of the README's architecture table. A row may
    name several folders (`src/sampling`, `src/entropix`): they keep that order."""
    order = []
    section = readme_text.split("## Architecture", 1)[1]
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        first_cell = line.split("|")[1]
        for name in re.findall(r"`src/([a-z_]+)`", first_cell):
            if name not in order:
                order.append(name)
    return order


def includes(path):
    """(line number, folder) of every project include ("folder/file.h") of a file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
            if m:
                out.append((number, m.group(1)))
    return out


def violations(order, files):
    """Includes that reach a folder above the including file's own."""
    rank = {name: i for i, name in enumerate(order)}
    bad = []
    for folder, path in files:
        for number, target in includes(path):
            if target in rank and rank[target] > rank[folder]:
                bad.append(f"{os.path.relpath(path, root)}:{number} includes {target}/ (above {folder}/)")
    return bad


with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
    order = layer_order(f.read())
print("layers, bottom to top:", " < ".join(order))
check(len(order) >= 10 and order[0] == "core" and order[-1] == "cli",
      "the README's architecture map lists the src/ folders from core up to cli")

folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
missing = [d for d in folders if d not in order]
check(not missing, "every folder of src/ has its place in the map" + (f" (missing: {missing})" if missing else ""))

files = []
for folder in folders:
    for dirpath, _, names in os.walk(os.path.join(src, folder)):
        files += [(folder, os.path.join(dirpath, n)) for n in names if n.endswith((".h", ".cpp"))]
check(len(files) > 100, f"the source files were found ({len(files)})")
found = violations(order, files)
for v in found:
    print("  " + v)
check(not found, "no file includes a header from a folder above its own")

# The check itself must catch an include that reaches up (against a file made here).
import tempfile  # noqa: E402
with tempfile.TemporaryDirectory() as tmp:
    probe = os.path.join(tmp, "probe.cpp")
    with open(probe, "w") as f:
        f.write('#include "core/error.h"\n#include "server/server.h"\n')
    caught = violations(order, [("sampling", probe)])
    check(len(caught) == 1 and "server/" in caught[0] and ":2 " in caught[0],
          "an include from sampling/ up into server/ is reported with its line")
    check(not violations(order, [("cli", probe)]), "the same includes from cli/ (the top) are allowed")

sys.exit(check.status())
