#!/usr/bin/env python3
"""What the prefix cache saves a chat client (a benchmark, not a test). Starts
`entropix serve` twice on the same model, with the prefix cache and with
--no-prefix-cache, and measures on /v1/chat/completions:

  - a 10-turn chat: every turn resends the whole conversation, as chat clients
    do; prompt tokens read (usage.prompt_tokens minus
    usage.prompt_tokens_details.cached_tokens) against the conversation's length,
    and the time to first token of each turn;
  - 4 clients at once, each with its own question after a shared system prompt
    of about 400 tokens (sent once before, as a server that has been answering
    would have it): prompt tokens read and the mean time to first token.

    python3 tools/bench_prefix_cache.py [--binary build/entropix] [--model FILE] [-t 2]
                                        [--turns 10] [--clients 4] [--max-tokens 16] [--json]

Standard library only. Times are noisy on a busy machine; the token counts are not."""
import argparse
import http.client
import json
import os
import re
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM_SENTENCE = ("You are a careful assistant for a library. Answer questions about opening hours, loans, "
                   "renewals and the reading rooms, briefly and politely. ")


def start_server(args, cache):
    cmd = [args.binary, "serve", "-m", args.model, "--port", "0", "-t", str(args.threads), "-c", str(args.ctx),
           "--parallel", str(args.clients), "--temp", "0"]
    if not cache:
        cmd.append("--no-prefix-cache")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"on http://[^:]+:(\d+) ", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit(f"entropix serve did not start (exit {proc.wait()})")


def chat(port, messages, max_tokens):
    """(reply text, prompt tokens, cached tokens, seconds to the first token) of one streamed request."""
    body = {"messages": messages, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse()
    text, first, usage = "", None, {}
    for raw in res:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            usage = event["usage"]
        for choice in event.get("choices", []):
            piece = choice.get("delta", {}).get("content") or ""
            if piece and first is None:
                first = time.perf_counter() - start
            text += piece
    conn.close()
    cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    return text, usage["prompt_tokens"], cached, first if first is not None else time.perf_counter() - start


def chat_turns(port, args):
    messages = [{"role": "system", "content": "You answer questions about numbers."}]
    turns = []
    for i in range(args.turns):
        messages.append({"role": "user", "content": f"Question {i + 1}: what is {i + 3} times {i + 7}, and why?"})
        reply, prompt, cached, ttft = chat(port, messages, args.max_tokens)
        messages.append({"role": "assistant", "content": reply})
        turns.append({"prompt": prompt, "cached": cached, "read": prompt - cached, "ttft": ttft})
    return turns


def shared_system(port, args):
    system = (SYSTEM_SENTENCE * 20)[: args.system_chars]
    chat(port, [{"role": "system", "content": system}, {"role": "user", "content": "Hello."}], 1)  # warms it
    results = [None] * args.clients

    def run(i):
        results[i] = chat(port, [{"role": "system", "content": system},
                                 {"role": "user", "content": f"Client {i}: can I renew book {100 + i} twice?"}],
                          args.max_tokens)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [{"prompt": p, "cached": c, "read": p - c, "ttft": f} for _, p, c, f in results]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "entropix"))
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "bench", "llama-1b-q8_0.gguf"))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-c", "--ctx", type=int, default=4096)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--system-chars", type=int, default=2000, help="length of the shared system prompt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.model):
        os.makedirs(os.path.dirname(args.model), exist_ok=True)
        subprocess.run([args.binary, "gen-model", "--shape", "llama-1b", "--arch", "llama", "--type", "q8_0",
                        "-o", args.model], check=True)
    out = {}
    for cache in (True, False):
        proc, port = start_server(args, cache)
        try:
            out["cache" if cache else "no_cache"] = {"turns": chat_turns(port, args), "shared": shared_system(port, args)}
        finally:
            proc.terminate()
            proc.wait(60)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for name, r in out.items():
        turns = r["turns"]
        read = sum(t["read"] for t in turns)
        print(f"{name}: {len(turns)}-turn chat: conversation {turns[-1]['prompt']} prompt tokens at the last turn, "
              f"{read} read in all ({read / turns[-1]['prompt']:.2f}x its length); "
              "first-token time per turn " + ", ".join(f"{t['ttft']:.2f}" for t in turns) + " s")
        shared = r["shared"]
        print(f"{name}: {len(shared)} clients, shared system prompt: prompt tokens {sum(s['prompt'] for s in shared)}, "
              f"read {sum(s['read'] for s in shared)}, mean first-token time "
              f"{sum(s['ttft'] for s in shared) / len(shared):.2f} s")


main()
