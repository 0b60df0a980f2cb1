"""The server decodes a request the way the command line would: one set of rules
for the sampler and its knobs (decoding/decode_options.h), whatever the server's
own default sampler is.

- A request that asks for the entropix sampler gets the attention metrics its
  profile reads, on a server started with `--sampler standard` as on one started
  with the default: the same seeded request gives the same text and metrics on
  both (the engine used to be loaded without attention scores when the server's
  default sampler did not read them).
- `top_logprobs` gives what is asked, up to 20, whatever the profile's
  n_alternatives; 21 is a 400 naming the field."""
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference.checks import Checks  # noqa: E402
from server_process import API_KEY, Server  # noqa: E402

TEST = "test_server_decode_rules"
check = Checks(TEST)
PROMPT = "Q: Lena had 15 feathers. The number of feathers doubles. How many feathers does Lena have?\nA:"


def post(server, path, body):
    """(status, parsed JSON body)."""
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def entropix_request(server):
    status, out = post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 24, "seed": 11,
                                                   "temperature": 0.9, "entropix": {"sampler": "entropix"}})
    check(status == 200, f"entropix request: 200 (got {status})")
    return out["choices"][0]


def main():
    default = Server(TEST)
    try:
        on_default = entropix_request(default)
        tokens = on_default["entropix"]
        check(len(tokens) > 0 and all("attn_entropy" in t and "interaction" in t for t in tokens),
              "default server: every token of an entropix request carries its attention metrics")

        # top_logprobs on chat: what is asked, past the profile's n_alternatives (5), up to 20.
        for asked in (12, 20):
            status, out = post(default, "/v1/chat/completions", {
                "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 6, "temperature": 0,
                "logprobs": True, "top_logprobs": asked})
            content = out["choices"][0]["logprobs"]["content"] if status == 200 else []
            check(status == 200 and len(content) > 0 and all(len(t["top_logprobs"]) == asked for t in content),
                  f"top_logprobs {asked}: {asked} alternatives per token (got "
                  f"{sorted({len(t['top_logprobs']) for t in content})})")
            probs = [sum(2.718281828459045 ** a["logprob"] for a in t["top_logprobs"]) for t in content]
            check(all(p <= 1.0 + 1e-6 for p in probs), f"top_logprobs {asked}: the alternatives' mass is at most 1")
        status, out = post(default, "/v1/chat/completions", {
            "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 4, "logprobs": True, "top_logprobs": 21})
        err = out.get("error", {})
        check(status == 400 and err.get("param") == "top_logprobs" and "top_logprobs" in err.get("message", ""),
              f"top_logprobs 21: 400 naming the field (got {status} {err})")
        status, out = post(default, "/v1/completions", {"prompt": PROMPT, "max_tokens": 4, "logprobs": 12,
                                                        "temperature": 0})
        tops = out["choices"][0]["logprobs"]["top_logprobs"] if status == 200 else []
        check(status == 200 and len(tops) == 4 and all(len(t) >= 10 for t in tops),
              "completions logprobs 12: up to 12 alternatives per token (pieces that print alike merge)")
    finally:
        check(default.stop() == 0, "default server: exits 0 on SIGTERM")

    standard = Server(TEST, "--sampler", "standard")
    try:
        on_standard = entropix_request(standard)
        tokens = on_standard["entropix"]
        check(len(tokens) > 0 and all("attn_entropy" in t for t in tokens),
              "server started with --sampler standard: an entropix request still gets attention metrics")
        check(on_standard["text"] == on_default["text"],
              f"the same seeded entropix request gives the same text on both servers "
              f"({on_default['text']!r} / {on_standard['text']!r})")
        check([t["state"] for t in tokens] == [t["state"] for t in on_default["entropix"]],
              "... and the same states")
    finally:
        check(standard.stop() == 0, "standard server: exits 0 on SIGTERM")
    sys.exit(check.status())


main()
