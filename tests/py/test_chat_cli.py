"""`entropix chat` driven like a person in a terminal (through a pseudo-terminal):
the prompt appears, an answer streams, and with --branching the model's hesitations
are shown as numbered options; the option typed in is the one the answer continues
with. Also: /exit ends the session with status 0, end of input ends it too, and a
second turn takes the first from the prefix cache."""
import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_chat_cli"
check = Checks(TEST)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal:
    """A child process on a pseudo-terminal, read until a pattern appears."""

    def __init__(self, args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=subprocess.PIPE, close_fds=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, patterns, timeout=120):
        """Returns (index of the first pattern found in the unread output, text up to its end)."""
        deadline = time.time() + timeout
        while True:
            for i, p in enumerate(patterns):
                m = re.search(p, self.seen)
                if m:
                    text, self.seen = self.seen[:m.end()], self.seen[m.end():]
                    return i, text
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"none of {patterns} within {timeout}s; output so far: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise EOFError(f"the program ended; output so far: {self.seen!r}")
                self.seen += ANSI.sub("", chunk.decode("utf-8", errors="replace").replace("\r\n", "\n"))

    def type(self, line):
        os.write(self.master, (line + "\n").encode())

    def close(self, timeout=30):
        rc = self.proc.wait(timeout=timeout)
        os.close(self.master)
        return rc


def main():
    exe = engine_cli.binary(TEST)
    source = os.environ.get("ENTROPIX_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")
    question = "Mia has 23 shells. She finds 18 more and gives 9 to Leo. How many shells does Mia have?"

    with tempfile.TemporaryDirectory() as tmp:
        # Thresholds that put every confident-but-split step in LEHV, so the model
        # branches, and a margin so wide that every differing pair of rollouts asks.
        profile = os.path.join(tmp, "lehv.profile.json")
        with open(profile, "w") as f:
            json.dump({"thresholds": {"entropy_low": 0.001, "entropy_high": 100.0,
                                      "varentropy_low": 0.01, "varentropy_high": 0.05}}, f)
        term = Terminal([exe, "chat", "-m", model, "--branching", "--clarify-margin", "1000",
                         "--profile", profile, "-n", "40", "-t", "1", "--seed", "3"])
        term.read_until([r"> $"])
        term.type(question)
        choices, answer_parts, asked = [], [], 0
        while True:
            which, text = term.read_until([r"choose 1-(\d+): $", r"\n> $"])
            if which == 1:
                answer_parts.append(text[:-len("\n> ")])
                break
            asked += 1
            options = re.findall(r"^  (\d+)\) (.*) \(score (-?[0-9.]+)\)$", text, re.M)
            n = int(re.search(r"choose 1-(\d+): $", text).group(1))
            check(len(options) == n and n >= 2, f"hesitation {asked}: {n} numbered options with scores")
            # first a wrong entry (re-asked), then the last option, whatever its score
            if asked == 1:
                term.type("nine")
                _, again = term.read_until([r"choose 1-\d+: $"])
                check("hesitates" not in again, "an answer that is not a number asks the same question again")
            term.type(str(n))
            choices.append(options[-1][1] if options else "")
            answer_parts.append(text.split("[the model hesitates between:]")[0])
        answer = "".join(answer_parts)
        check(asked > 0, f"the model hesitated and asked ({asked} times)")
        pos = 0
        for c in choices:
            found = answer.find(c, pos)
            check(found >= 0, f"the answer continues with the chosen option {c!r}")
            pos = max(pos, found + len(c)) if found >= 0 else pos
        term.type("/exit")
        check(term.close() == 0, "/exit ends the session with status 0")

        # Without a terminal (a pipe) the chat ends cleanly at the end of its input.
        proc = subprocess.run([exe, "chat", "-m", model, "-n", "24", "-t", "1", "--sampler", "greedy"],
                              input=(question + "\n").encode(), capture_output=True, timeout=120)
        out = proc.stdout.decode("utf-8", errors="replace")
        check(proc.returncode == 0, f"end of input ends the chat with status 0 (got {proc.returncode})")
        check(len(out.strip()) > 0, f"a piped question gets an answer: {out.strip()[:80]!r}")

        # The conversation stays cached between turns: the second turn reads only what
        # follows the first turn's prompt (its answer as the template writes it, and the
        # new question).
        proc = subprocess.run([exe, "chat", "-m", model, "-n", "16", "-t", "1", "--sampler", "greedy", "-v",
                               "--system", "You are a patient tutor who shows every step."],
                              input=(question + "\nAnd if she finds 5 more?\n").encode(), capture_output=True,
                              timeout=120)
        turns = [(int(n), int(m)) for n, m in
                 re.findall(r"^prompt: (\d+) tokens, (\d+) cached$", proc.stderr.decode(errors="replace"), re.M)]
        check(proc.returncode == 0 and len(turns) == 2, f"-v reports each of the two turns: {turns}")
        if len(turns) == 2:
            check(turns[0][1] == 0, f"the first turn finds nothing cached: {turns[0]}")
            check(turns[1][1] >= turns[0][0] - 1,
                  f"the second turn takes at least the first turn's prompt from the cache: {turns}")

    sys.exit(check.status())


if __name__ == "__main__":
    main()
