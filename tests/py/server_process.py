"""`entropix serve` on the demo model as a child process for the Python server
tests: it listens on a free loopback port (--port 0), read back from the line it
prints when ready; stop() ends it with SIGTERM (its graceful shutdown)."""
import os
import re
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402

API_KEY = "test-key"


def demo_model():
    source = os.environ.get("ENTROPIX_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    return os.path.join(source, "models", "demo", "demo-q8_0.gguf")


class Server:
    def __init__(self, test, *extra_args, ready_timeout=60):
        args = [engine_cli.binary(test), "serve", "-m", demo_model(), "--port", "0", "--api-key", API_KEY,
                "-t", "1", "-c", "4096", *extra_args]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        ready = threading.Event()
        self.port = None

        def read_stderr():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"on http://[^:]+:(\d+) ", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()  # the process ended

        threading.Thread(target=read_stderr, daemon=True).start()
        if not ready.wait(ready_timeout) or self.port is None:
            self.proc.kill()
            raise RuntimeError("entropix serve did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM, then the exit status (the server finishes what runs, then exits)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
