#!/usr/bin/env python3
"""Soak benchmark of `entropix serve` (not a test): mixed requests for a while, then
whether the server stayed whole. Starts the server on a random-weight
Llama-3.2-1B-shape Q8_0 model (made with `entropix gen-model` when missing; --model
picks another, e.g. models/demo/demo-q8_0.gguf for a quick run), and has --clients
threads send, for --minutes, a mix of

  - streamed and plain completions and chat completions of 1..--max-tokens tokens,
  - streams hung up on after a few tokens (the server cancels them),
  - n=2 requests and requests with logprobs,
  - health checks and model lists.

Every 10 s it samples the server's resident memory (VmRSS) and open descriptors
(/proc/PID/fd), and it checks every response that was not hung up on: status 200,
a finish_reason, [DONE] at the end of a stream, usage equal to the tokens seen.
At the end it prints the counts, the failures, and RSS and descriptors after the
warm-up (the first --warmup minutes) against the end; --json writes them too.

    python3 tools/soak_server.py [--binary build/entropix] [--model FILE] [--minutes 30]
                                 [--clients 6] [--max-tokens 48] [-t 2] [--json FILE]

Standard library only."""
import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["Once upon a time", "The history of the city begins with", "Q: What is 12 + 7?\nA:",
           "Write a short poem about the sea.", "Lily found a red ball in the garden. She"]


def start_server(args):
    cmd = [args.binary, "serve", "-m", args.model, "--port", "0", "-t", str(args.threads), "-c", str(args.ctx),
           "--parallel", "4", "--no-explorer"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"on http://[^:]+:(\d+) ", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit(f"entropix serve did not start (exit {proc.wait()})")


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []

    def add(self, kind, error=None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if error:
                self.failures.append(f"{kind}: {error}")


def one_request(port, rng, max_tokens, tally):
    kind = rng.choice(["complete", "stream", "chat", "chat-stream", "hangup", "n2", "logprobs", "health"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        if kind == "health":
            conn.request("GET", "/health" if rng.random() < 0.5 else "/v1/models")
            r = conn.getresponse()
            r.read()
            tally.add(kind, None if r.status == 200 else f"HTTP {r.status}")
            return
        n_tok = rng.randint(1, max_tokens)
        prompt = rng.choice(PROMPTS)
        chat = kind.startswith("chat")
        body = {"max_tokens": n_tok, "seed": rng.randint(0, 1 << 30)}
        if chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if kind in ("stream", "chat-stream", "hangup"):
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if kind == "n2":
            body["n"] = 2
        if kind == "logprobs":
            body["logprobs"] = 3
        conn.request("POST", "/v1/chat/completions" if chat else "/v1/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        if r.status != 200:
            tally.add(kind, f"HTTP {r.status} {r.read()[:200]!r}")
            return
        if not body.get("stream"):
            j = json.loads(r.read())
            ok = all(c.get("finish_reason") for c in j["choices"]) and len(j["choices"]) == body.get("n", 1)
            tally.add(kind, None if ok else f"incomplete: {json.dumps(j)[:200]}")
            return
        seen, done, finish, usage = 0, False, None, None
        for line in r:
            line = line.decode().strip()
            if line == "data: [DONE]":
                done = True
                break
            if not line.startswith("data: "):
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                tally.add(kind, f"error event {chunk['error']}")
                return
            if chunk.get("usage"):
                usage = chunk["usage"]["completion_tokens"]
            for c in chunk["choices"]:
                seen += len(c.get("entropix") or [])
                finish = c.get("finish_reason") or finish
            if kind == "hangup" and seen >= 2:
                tally.add(kind)
                return  # the connection closes: the server must cancel
        ok = done and finish and usage == seen
        tally.add(kind, None if ok else f"done={done} finish={finish} usage={usage} seen={seen}")
    except Exception as e:  # a reset, a timeout: the server failed this client
        tally.add(kind, f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "entropix"))
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "bench", "llama-1b-q8_0.gguf"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=3, help="minutes before the RSS baseline")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-c", "--ctx", type=int, default=4096)
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    if not os.path.exists(args.model):
        os.makedirs(os.path.dirname(args.model), exist_ok=True)
        print(f"writing {args.model} (gen-model --shape llama-1b --type q8_0)", file=sys.stderr)
        subprocess.run([args.binary, "gen-model", "--shape", "llama-1b", "--arch", "llama", "--type", "q8_0",
                        "-o", args.model], check=True)
    proc, port = start_server(args)
    tally = Tally()
    stop = time.time() + args.minutes * 60
    samples = []

    def client(seed):
        rng = random.Random(seed)
        while time.time() < stop:
            one_request(port, rng, args.max_tokens, tally)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    start = time.time()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append((time.time() - start, *sample(proc.pid)))
        time.sleep(10)
    for t in threads:
        t.join()
    samples.append((time.time() - start, *sample(proc.pid)))
    proc.terminate()
    proc.wait(timeout=60)

    after = [s for s in samples if s[0] >= args.warmup * 60] or samples[-1:]
    result = {
        "minutes": args.minutes, "clients": args.clients, "model": os.path.basename(args.model),
        "requests": sum(tally.counts.values()), "by_kind": tally.counts, "failures": len(tally.failures),
        "rss_mb_after_warmup": round(after[0][1] / 2**20, 1), "rss_mb_end": round(samples[-1][1] / 2**20, 1),
        "rss_mb_max_after_warmup": round(max(s[1] for s in after) / 2**20, 1),
        "fds_after_warmup": after[0][2], "fds_end": samples[-1][2], "fds_max": max(s[2] for s in samples),
    }
    for f in tally.failures[:20]:
        print("failure:", f)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**result, "samples": samples}, f)
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
