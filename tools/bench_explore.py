#!/usr/bin/env python3
"""What a branch in the explorer costs (a benchmark, not a test). Starts
`entropix explore` on a model twice, with the prefix cache and with
--no-prefix-cache, and in each: makes a session, generates a first answer as
deep as the deepest branch point, then picks the runner-up token at each depth
(100 and 1,000 by default) and times the branch's first events:

  - forced: the picked token with its alternatives (needs the logits at that
    point, so everything before it must be in the KV cache);
  - first generated token after it;

against one decode step (the median gap between tokens of the first answer).
With the cache, a branch reads only the last token of its prefix again; without
it, the whole prompt and answer up to the branch point.

    python3 tools/bench_explore.py --model FILE [--binary build/entropix] [-t 2]
                                   [--depths 100,1000] [--rounds 3] [--json]

Standard library only. Times are noisy on a busy machine."""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "Once upon a time, in a village at the edge of a great forest, there lived"


def start(args, cache, db):
    cmd = [args.binary, "explore", "-m", args.model, "--port", "0", "-t", str(args.threads), "-c", str(args.ctx),
           "--db", db, "--temp", "0", "--ignore-eos"]
    if not cache:
        cmd.append("--no-prefix-cache")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r":(\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit("the server did not start: " + line)
    return proc, int(m.group(1))


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def stream(port, path, body):
    """(seconds to each token event, the events) of a streamed generate."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    t0 = time.perf_counter()
    c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    times, events = [], []
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if event.startswith(b"data: "):
                e = json.loads(event[6:])
                events.append(e)
                if e["type"] == "token":
                    times.append(time.perf_counter() - t0)
    return times, events


def measure(args, cache):
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start(args, cache, os.path.join(tmp, "explore.db"))
        try:
            depth = max(args.depths)
            s = call(port, "POST", "/explore/v1/sessions",
                     {"title": "bench", "prompt": PROMPT, "settings": {"sampler": "greedy", "max_tokens": depth + 2}})
            base = f"/explore/v1/sessions/{s['id']}"
            times, events = stream(port, base + "/generate", {})
            root = next(e["node"] for e in events if e["type"] == "node")
            tokens = [e["token"] for e in events if e["type"] == "token"]
            # Events may carry several tokens: the mean step over the answer, not the gaps.
            step = (times[-1] - times[0]) / (len(times) - 1)
            out = {"decode_step_s": step, "prompt_tokens": len(s["prompt_tokens"]), "branches": {}}
            for d in args.depths:
                forced, first = [], []
                for r in range(args.rounds):
                    alt = tokens[d]["top"][1 + r % 3]["id"]
                    t, ev = stream(port, base + "/generate",
                                   {"node": root["id"], "at": d, "token": alt, "max_tokens": 1})
                    forced.append(t[0])
                    first.append(t[1])
                    done = next(e for e in ev if e["type"] == "done")
                    cached = done["cached_tokens"]
                out["branches"][d] = {"forced_s": statistics.median(forced), "first_generated_s": statistics.median(first),
                                      "prompt_tokens": done["prompt_tokens"], "cached_tokens": cached}
            return out
        finally:
            proc.terminate()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "entropix"))
    ap.add_argument("--model", required=True)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-c", "--ctx", type=int, default=2048)
    ap.add_argument("--depths", default="100,1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.depths = [int(x) for x in args.depths.split(",")]
    results = {"cache": measure(args, True), "no_cache": measure(args, False)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        print(f"{name}: decode step {r['decode_step_s'] * 1000:.0f} ms, prompt {r['prompt_tokens']} tokens")
        for d, b in r["branches"].items():
            print(f"  branch at depth {d}: picked token after {b['forced_s'] * 1000:.0f} ms "
                  f"({b['forced_s'] / r['decode_step_s']:.2f} steps), first generated after "
                  f"{b['first_generated_s'] * 1000:.0f} ms; {b['cached_tokens']} of {b['prompt_tokens']} tokens cached")


if __name__ == "__main__":
    main()
