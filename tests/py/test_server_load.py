"""A bounded load test of `entropix serve` (not timed): 8 concurrent streaming
clients on loopback, 3 requests each, against a server that decodes 4 sequences
together (so requests also wait in the queue). Every response must be complete
(200, ends with [DONE], a finish_reason) and its text equal to what a lone greedy
request gives for the same prompt; the server logs no error and stays up."""
import http.client
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_process import API_KEY, Server  # noqa: E402

TEST = "test_server_load"
CLIENTS = 8
REQUESTS_PER_CLIENT = 3
MAX_TOKENS = 24
PROMPTS = [f"Q: {a} apples and {b} more apples. How many apples?\nA:" for a, b in
           [(3, 4), (12, 7), (25, 17), (8, 8), (40, 2), (9, 30), (14, 6), (51, 20)]]


def request(port, body):
    """(status, list of data payloads) of one streamed POST /v1/completions."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    events = []
    for line in resp:  # read as it streams
        line = line.decode().rstrip("\n")
        if line.startswith("data: "):
            events.append(line[6:])
    conn.close()
    return resp.status, events


def completion(port, prompt):
    body = {"prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    return answer["choices"][0]["text"]


def main():
    server = Server(TEST, "--parallel", "4")
    failures = []
    try:
        expected = [completion(server.port, p) for p in PROMPTS]  # one at a time: the reference

        def client(c):
            for r in range(REQUESTS_PER_CLIENT):
                i = (c + r) % len(PROMPTS)
                body = {"prompt": PROMPTS[i], "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
                where = f"client {c} request {r}"
                try:
                    status, events = request(server.port, body)
                except OSError as e:
                    failures.append(f"{where}: {e}")
                    continue
                if status != 200 or not events or events[-1] != "[DONE]":
                    failures.append(f"{where}: status {status}, last event {events[-1:] }")
                    continue
                chunks = [json.loads(e) for e in events[:-1]]
                if any("error" in ch for ch in chunks):
                    failures.append(f"{where}: an error chunk: {chunks}")
                    continue
                text = "".join(ch["choices"][0]["text"] for ch in chunks)
                finish = chunks[-1]["choices"][0]["finish_reason"]
                if finish not in ("stop", "length"):
                    failures.append(f"{where}: finish_reason {finish!r}")
                if text != expected[i]:
                    failures.append(f"{where}: text {text!r}, alone it was {expected[i]!r}")

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        if any(t.is_alive() for t in threads):
            failures.append("a client did not finish within 300 s")
        if not server.alive():
            failures.append("the server exited")
    finally:
        code = server.stop()
    if code != 0:
        failures.append(f"the server exited with {code} on SIGTERM")
    errors = [line for line in server.log if "error" in line.lower()]
    if errors:
        failures.append("the server logged errors: " + "".join(errors))
    for f in failures:
        print("FAIL " + f)
    if failures:
        sys.exit(1)
    print(f"{TEST}: {CLIENTS} clients x {REQUESTS_PER_CLIENT} streamed requests, all complete and as alone")


if __name__ == "__main__":
    main()
