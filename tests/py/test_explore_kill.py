"""`entropix serve` killed with SIGKILL while the explorer generates a branch: the
database opens again, the session and every node finished before are intact,
the interrupted node is marked stopped and holds a prefix of its tokens (as many
as were streamed, or more), and the explorer works on from there. Also checks
that `entropix explore`, without -m, opens the demo model and prints its page's
address on stdout."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402
from server_process import API_KEY, Server, demo_model  # noqa: E402

TEST = "test_explore_kill"
check = Checks(TEST)


def call(server, method, path, body=None):
    req = urllib.request.Request(server.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "explore.db")
    server = Server(TEST, "--db", db, "--ignore-eos")
    session = call(server, "POST", "/explore/v1/sessions",
                   {"title": "kill", "prompt": "Q: Tom has 14 marbles. He wins 9 more. How many?\nA:",
                    "settings": {"sampler": "greedy", "max_tokens": 8}})
    sid = session["id"]
    first = call(server, "POST", f"/explore/v1/sessions/{sid}/generate", {"stream": False})["node"]
    before = call(server, "GET", f"/explore/v1/sessions/{sid}")

    # A long branch, streamed; the server is killed once some of its tokens arrived.
    streamed = []
    req = urllib.request.Request(server.url + f"/explore/v1/sessions/{sid}/generate", method="POST",
                                 data=json.dumps({"node": first["id"], "at": 2, "max_tokens": 4000}).encode(),
                                 headers={"Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"})

    def read():
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                for line in r:
                    if line.startswith(b"data: "):
                        streamed.append(json.loads(line[6:]))
        except Exception:
            pass  # the server died mid-stream

    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.time() + 60
    while sum(e["type"] == "token" for e in streamed) < 50 and time.time() < deadline:
        time.sleep(0.01)
    n_streamed = sum(e["type"] == "token" for e in streamed)
    check(n_streamed >= 50, f"the branch streamed tokens before the kill ({n_streamed})")
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(30)
    reader.join(30)

    again = Server(TEST, "--db", db)
    after = call(again, "GET", f"/explore/v1/sessions/{sid}")
    check(after["nodes"][0] == before["nodes"][0], "the node finished before the kill is unchanged")
    check(len(after["nodes"]) == 2, f"the interrupted branch is kept ({len(after['nodes'])} nodes)")
    if len(after["nodes"]) == 2:
        cut = after["nodes"][1]
        check(cut["status"] == "stopped", f"the interrupted branch reads as stopped (got {cut['status']})")
        tokens = [e["token"] for e in streamed if e["type"] == "token"]
        check(len(cut["tokens"]) >= len(tokens) - 1 and len(cut["tokens"]) < 4000,
              f"it holds what was streamed ({len(cut['tokens'])} saved, {len(tokens)} streamed)")
        check(cut["tokens"][:len(tokens) - 1] == tokens[:len(cut["tokens"])][:len(tokens) - 1],
              "its saved tokens are the streamed ones, in order")
        more = call(again, "POST", f"/explore/v1/sessions/{sid}/generate",
                    {"node": cut["id"], "at": 5, "max_tokens": 3, "stream": False})["node"]
        check(more["status"] == "done" and len(more["tokens"]) == 3, "a branch from it works after the restart")
    again.stop()

    # `entropix explore` without -m opens the demo model and prints the page's address alone on stdout.
    proc = subprocess.Popen([engine_cli.binary(TEST), "explore", "--port", "0", "--db", db, "-t", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    check(re.fullmatch(r"http://127\.0\.0\.1:\d+/", line) is not None, f"explore prints its address ({line!r})")
    if line:
        with urllib.request.urlopen(line + "explore/v1/info", timeout=30) as r:
            check(json.loads(r.read())["model"] == "demo-q8_0", "the address answers")
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)

sys.exit(check.status())
