#!/usr/bin/env python3
"""Throughput of `entropix serve` under concurrent streaming clients (a benchmark,
not a test). Starts the server on a random-weight Llama-3.2-1B-shape Q8_0 model
(made with `entropix gen-model` when missing), then measures:

  - 1 client, then C clients at once (default 4), each streaming max_tokens tokens
    with --ignore-eos: total generated tokens/s and the ratio C clients / 1 client;
  - time to first token of a short prompt, alone and while the C clients stream;
  - the longest pause between two tokens of one stream while another client sends
    a prompt of --long-prompt tokens (chunked prefill bounds it), and that prompt's
    time to first token; --prefill-while-decoding passes the server's budget;
  - with --repeat-prompt N (alone), the time to first token of an N-token prompt
    sent the first time and again (the prefix cache serves the repeat;
    --no-prefix-cache passes the server's option, to compare).

    python3 tools/bench_server.py [--binary build/entropix] [--model FILE] [-t 1]
                                  [--clients 4] [--max-tokens 32] [--rounds 2] [--json]
                                  [--long-prompt 256] [--prefill-while-decoding N] [--gap-only]
                                  [--no-packed-weights] [--repeat-prompt 500] [--no-prefix-cache]

Standard library only. Numbers are noisy on a busy machine: run it alone."""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG_PROMPT = "The history of the city begins with a small settlement by the river, where"
SHORT_PROMPT = "Hello"


def start_server(args):
    cmd = [args.binary, "serve", "-m", args.model, "--port", "0", "-t", str(args.threads), "-c", str(args.ctx),
           "--parallel", str(args.clients + 1), "--ignore-eos", "--temp", "0"]
    if args.prefill_while_decoding:
        cmd += ["--prefill-while-decoding", str(args.prefill_while_decoding)]
    if args.no_packed_weights:
        cmd += ["--no-packed-weights"]
    if args.no_prefix_cache:
        cmd += ["--no-prefix-cache"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"on http://[^:]+:(\d+) ", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # keep draining
            return proc, int(m.group(1))
    raise SystemExit(f"entropix serve did not start (exit {proc.wait()})")


def stream(port, prompt, max_tokens, on_first=None, on_token=None):
    """(generated tokens, seconds to the first token, seconds in all) of one streamed completion.
    `prompt` is text or a list of token ids; on_token(), called at each token, may return
    False to hang up (which cancels the request)."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    first = None
    tokens = 0
    for line in resp:
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk["choices"] and chunk["choices"][0]["entropix"]:
            if first is None:
                first = time.perf_counter() - start
                if on_first:
                    on_first()
            if on_token and on_token() is False:
                break
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    return tokens, first, time.perf_counter() - start


def concurrent(port, clients, max_tokens, probe=False):
    """Total tokens/s of `clients` streams started together; with probe, the time to
    first token of a short prompt sent once they all stream."""
    results = [None] * clients
    streaming = threading.Barrier(clients + 1)
    decoding = threading.Semaphore(0)  # released once per client at its first token

    def run(i):
        streaming.wait()
        results[i] = stream(port, LONG_PROMPT, max_tokens, on_first=decoding.release)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    streaming.wait()
    ttft = None
    if probe:
        for _ in range(clients):  # every client past its prefill, decoding
            decoding.acquire()
        ttft = stream(port, SHORT_PROMPT, 1)[1]
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return sum(r[0] for r in results) / wall, ttft


def token_prompt(n_prompt, salt):
    """Exactly n_prompt token ids; a new salt makes a prompt the prefix cache has not seen."""
    return [1000 + salt % 5000] + [1000 + (i * 7919) % 20000 for i in range(1, n_prompt)]


def gap_under_long_prompt(port, n_prompt, salt):
    """(median gap between a stream's tokens before, longest gap while another client's
    prompt of n_prompt token ids is prefilled, that prompt's time to first token), seconds."""
    times = []
    long_started = threading.Event()
    long_done = threading.Event()
    after_done = []

    def on_token():
        times.append(time.perf_counter())
        if len(times) == 8:
            long_started.set()
        if long_done.is_set():
            after_done.append(1)
        return len(after_done) < 3  # a few tokens past the long prompt's first, then hang up

    streamer = threading.Thread(target=stream, args=(port, SHORT_PROMPT, 4000), kwargs={"on_token": on_token})
    streamer.start()
    long_started.wait()
    start = time.perf_counter()
    ttft = stream(port, token_prompt(n_prompt, salt), 1)[1]
    long_done.set()
    streamer.join()
    before = sorted(b - a for a, b in zip(times, times[1:]) if b <= start)
    during = [b - a for a, b in zip(times, times[1:]) if b > start]
    return before[len(before) // 2], max(during), ttft


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "entropix"))
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "bench", "llama-1b-q8_0.gguf"))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-c", "--ctx", type=int, default=2048)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2, help="measurements of each figure (the best is kept)")
    ap.add_argument("--long-prompt", type=int, default=256, help="prompt tokens of the pause measurement (0: skip it)")
    ap.add_argument("--prefill-while-decoding", type=int, default=0, help="the server's option (0: its default)")
    ap.add_argument("--gap-only", action="store_true", help="only the pause measurement")
    ap.add_argument("--no-packed-weights", action="store_true", help="the server's option (compare with and without)")
    ap.add_argument("--repeat-prompt", type=int, default=0,
                    help="only the time to first token of a prompt of this many tokens, new and repeated")
    ap.add_argument("--no-prefix-cache", action="store_true", help="the server's option (compare with and without)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if not os.path.exists(args.model):
        os.makedirs(os.path.dirname(args.model), exist_ok=True)
        print(f"writing {args.model} (gen-model --shape llama-1b --type q8_0)", file=sys.stderr)
        subprocess.run([args.binary, "gen-model", "--shape", "llama-1b", "--arch", "llama", "--type", "q8_0",
                        "-o", args.model], check=True)

    proc, port = start_server(args)
    try:
        stream(port, SHORT_PROMPT, 4)  # warm-up: pages in the weights
        result = {"model": os.path.basename(args.model), "threads": args.threads}
        if args.repeat_prompt > 0:
            new, again = [], []
            for r in range(args.rounds):
                prompt = token_prompt(args.repeat_prompt, 100 + r)
                new.append(stream(port, prompt, 1)[1])
                again.append(stream(port, prompt, 1)[1])
            result.update({"repeat_prompt": args.repeat_prompt, "prefix_cache": not args.no_prefix_cache,
                           "ttft_new_s": round(min(new), 3), "ttft_repeat_s": round(min(again), 3)})
        elif not args.gap_only:
            one = max(concurrent(port, 1, args.max_tokens)[0] for _ in range(args.rounds))
            many = max(concurrent(port, args.clients, args.max_tokens)[0] for _ in range(args.rounds))
            ttft_idle = min(stream(port, SHORT_PROMPT, 1)[1] for _ in range(args.rounds))
            ttft_load = min(concurrent(port, args.clients, args.max_tokens, probe=True)[1] for _ in range(args.rounds))
            result.update({"max_tokens": args.max_tokens, "clients": args.clients, "tokens_per_s_1": round(one, 2),
                           "tokens_per_s_n": round(many, 2), "ratio": round(many / one, 2),
                           "ttft_idle_s": round(ttft_idle, 3), "ttft_under_load_s": round(ttft_load, 3)})
        if args.long_prompt > 0 and not args.repeat_prompt:
            # A new prompt each time: a repeat would come from the prefix cache.
            long_ttft_idle = min(stream(port, token_prompt(args.long_prompt, r), 1)[1] for r in range(args.rounds))
            gaps = [gap_under_long_prompt(port, args.long_prompt, args.rounds + r) for r in range(args.rounds)]
            result.update({"long_prompt": args.long_prompt, "prefill_while_decoding": args.prefill_while_decoding or None,
                           "gap_alone_s": round(min(g[0] for g in gaps), 3),
                           "max_gap_during_long_prompt_s": round(min(g[1] for g in gaps), 3),
                           "long_prompt_ttft_idle_s": round(long_ttft_idle, 3),
                           "long_prompt_ttft_streaming_s": round(min(g[2] for g in gaps), 3)})
    finally:
        proc.terminate()
        proc.wait()

    if args.json:
        print(json.dumps(result))
        return
    print(f"model {result['model']}, {args.threads} thread(s), best of {args.rounds}")
    if args.repeat_prompt > 0:
        print(f"time to first token of a {args.repeat_prompt}-token prompt (prefix cache "
              f"{'on' if result['prefix_cache'] else 'off'}): {result['ttft_new_s'] * 1000:.0f} ms new, "
              f"{result['ttft_repeat_s'] * 1000:.0f} ms repeated")
        return
    if not args.gap_only:
        print(f"1 client:  {one:7.2f} tokens/s ({args.max_tokens} tokens per client)")
        print(f"{args.clients} clients: {many:7.2f} tokens/s  ({many / one:.2f}x one client; target >= 2.5x)")
        print(f"time to first token, short prompt: {ttft_idle * 1000:.0f} ms idle, "
              f"{ttft_load * 1000:.0f} ms while {args.clients} clients stream")
    if args.long_prompt > 0:
        budget = args.prefill_while_decoding or "default"
        print(f"one stream, another client sends {args.long_prompt} prompt tokens (--prefill-while-decoding {budget}):")
        print(f"  gap between two tokens: {result['gap_alone_s'] * 1000:.0f} ms alone (median), "
              f"{result['max_gap_during_long_prompt_s'] * 1000:.0f} ms at most during the prefill")
        print(f"  the long prompt's time to first token: {result['long_prompt_ttft_idle_s'] * 1000:.0f} ms idle, "
              f"{result['long_prompt_ttft_streaming_s'] * 1000:.0f} ms beside the stream")


if __name__ == "__main__":
    main()
