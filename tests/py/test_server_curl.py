"""`entropix serve` driven with curl, as a user at a shell would: SSE streaming
with -N, and hostile or sloppy bodies (malformed JSON, invalid UTF-8, oversized,
wrong types, huge numbers, unknown fields, chunked upload). Every bad body gets an
OpenAI-shaped JSON error with the right status, the server stays up throughout,
and SIGTERM ends it cleanly. Skipped (exit 77) when curl is not installed."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402
from server_process import API_KEY, Server  # noqa: E402

TEST = "test_server_curl"
check = Checks(TEST)


def curl(server, path, body=None, key=API_KEY, extra=()):
    """(status, body bytes) of one request; body bytes are sent as they are."""
    args = ["curl", "-s", "-S", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}", *extra]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    proc = subprocess.run(args + [server.url + path], input=body, capture_output=True, timeout=90)
    out, _, code = proc.stdout.rpartition(b"\n")
    return int(code or 0), out


def expect_error(server, what, path, body, status, code=None, extra=()):
    got, out = curl(server, path, body, extra=extra)
    try:
        err = json.loads(out)["error"]
        shaped = isinstance(err["message"], str) and isinstance(err["type"], str) and "code" in err
        code_ok = code is None or err["code"] == code
    except (ValueError, KeyError, TypeError):
        shaped, code_ok, err = False, False, out[:200]
    check(got == status and shaped and code_ok, f"{what}: {status} {code or ''} (got {got} {err})")
    check(server.alive(), f"{what}: the server is still up")


def main():
    if shutil.which("curl") is None:
        engine_cli.skip(TEST, "curl is not installed")
    server = Server(TEST)
    try:
        status, out = curl(server, "/health", key=None)
        check(status == 200 and json.loads(out)["status"] == "ok", "/health answers without a key")

        # Streaming with -N: every event a JSON chunk, then [DONE]; same text as without streaming.
        req = {"prompt": "Q: 3 + 4?\nA:", "max_tokens": 12, "temperature": 0}
        status, whole = curl(server, "/v1/completions", json.dumps(req).encode())
        whole = json.loads(whole)
        req["stream"] = True
        status, out = curl(server, "/v1/completions", json.dumps(req).encode(), extra=["-N"])
        events = [line[6:] for line in out.decode().split("\n") if line.startswith("data: ")]
        check(status == 200 and events and events[-1] == "[DONE]", "stream: 200, ends with data: [DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["text"] for c in chunks)
        check(text == whole["choices"][0]["text"], "stream: the text equals the non-streamed answer")
        check(chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length"), "stream: the last chunk has a finish_reason")

        # Malformed and hostile bodies.
        expect_error(server, "malformed JSON", "/v1/completions", b'{"prompt": "x",', 400, "invalid_json")
        expect_error(server, "empty body", "/v1/completions", b"", 400, "invalid_json")
        expect_error(server, "a JSON array", "/v1/chat/completions", b"[]", 400, "invalid_json")
        expect_error(server, "invalid UTF-8", "/v1/completions", b'{"prompt": "caf\xc3\x28 \xff"}', 400, "invalid_json")
        expect_error(server, "NUL bytes", "/v1/completions", b'{"prompt": "a\x00b"}', 400, "invalid_json")
        expect_error(server, "oversized body (2 MiB)", "/v1/completions",
                     json.dumps({"prompt": "a" * (2 << 20)}).encode(), 413, "body_too_large")
        expect_error(server, "deeply nested JSON", "/v1/completions", b"[" * 100000 + b"]" * 100000, 400)

        # Wrong types.
        for field, value in [("max_tokens", "10"), ("temperature", "hot"), ("stream", 1), ("stop", 7),
                             ("seed", 1.5), ("n", [2]), ("logprobs", "yes"), ("entropix", "greedy")]:
            expect_error(server, f"wrong type {field}={value!r}", "/v1/completions",
                         json.dumps({"prompt": "x", field: value}).encode(), 400)
        expect_error(server, "messages as a string", "/v1/chat/completions",
                     b'{"messages": "hello"}', 400, "invalid_type")
        expect_error(server, "message content as a number", "/v1/chat/completions",
                     b'{"messages": [{"role": "user", "content": 5}]}', 400, "invalid_type")

        # Huge numbers.
        for raw in [b'"max_tokens": 1e30', b'"max_tokens": 99999999999999999999999', b'"max_tokens": 2147483648',
                    b'"n": 1000000', b'"logprobs": 1000000', b'"seed": 18446744073709551616',
                    b'"temperature": 1e308', b'"top_k": -9223372036854775808', b'"max_tokens": 1e400']:
            expect_error(server, f"huge number {raw.decode()}", "/v1/completions",
                         b'{"prompt": "x", ' + raw + b"}", 400)

        # A model the server does not serve (the listed id and a missing field are served).
        expect_error(server, "unknown model", "/v1/chat/completions",
                     json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode(),
                     404, "model_not_found")
        status, out = curl(server, "/v1/models")
        listed = json.loads(out)["data"][0]["id"]
        status, out = curl(server, "/v1/completions", json.dumps({"model": listed, "prompt": "Q:", "max_tokens": 2}).encode())
        check(status == 200 and json.loads(out)["model"] == listed, f"the listed model {listed!r} is served")

        # Unknown fields are ignored (OpenAI clients send many).
        status, out = curl(server, "/v1/completions", json.dumps(
            {"prompt": "Q:", "max_tokens": 2, "user": "u-1", "frobnicate": {"x": [1, 2]}, "suffix": None,
             "presence_penalty": 0, "logit_bias": {}}).encode())
        check(status == 200 and json.loads(out)["usage"]["completion_tokens"] == 2, "unknown fields are ignored")

        # A chunked upload (no Content-Length).
        status, out = curl(server, "/v1/completions", json.dumps({"prompt": "Q:", "max_tokens": 2}).encode(),
                           extra=["-H", "Transfer-Encoding: chunked"])
        check(status == 200, f"a chunked request body is read (got {status})")

        status, _ = curl(server, "/v1/models", key="wrong")
        check(status == 401, "a wrong key gets 401")
        status, out = curl(server, "/health", key=None)
        check(status == 200 and server.alive(), "the server still answers after all of it")

        start = time.monotonic()
        code = server.stop()
        check(code == 0, f"SIGTERM: exits with 0 (got {code})")
        check(time.monotonic() - start < 10, "SIGTERM: exits promptly when idle")
        check(any("stopped" in line for line in server.log), "SIGTERM: logs that it stopped")
    finally:
        if server.alive():
            server.proc.kill()
    sys.exit(check.status())


if __name__ == "__main__":
    main()
