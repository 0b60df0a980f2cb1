"""`entropix chat` goes on past what would otherwise end the session: a line that is
not UTF-8 is refused alone (with a chat template, which renders text only), and a
conversation that outgrows the context (-c) drops its oldest exchanges, keeping the
system prompt, says so on stderr, and answers."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_chat_limits"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
source = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")

# A small template of the usual shape: role markers, then the assistant's turn.
TEMPLATE = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")
QUESTIONS = [
    "Q: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?",
    "Q: Ben has 5 cars. He gets 9 more. How many cars does Ben have?",
    "Q: Zoe had 30 stickers. She gave away 12. How many are left?",
    "Q: A box holds 4 bags with 6 marbles in each. How many marbles?",
    "Q: Sam reads 8 pages a day for 3 days. How many pages?",
]


def chat(args, lines):
    proc = subprocess.run([exe, "chat", "-m", model, "-t", "1", "--sampler", "greedy", "-v", *args],
                          input=b"".join(line + b"\n" for line in lines), capture_output=True, timeout=300)
    err = proc.stderr.decode("utf-8", errors="replace")
    turns = re.findall(r"^prompt: (\d+) tokens, (\d+) cached$", err, re.M)
    return proc.returncode, proc.stdout.decode("utf-8", errors="replace"), err, [int(n) for n, _ in turns]


with tempfile.TemporaryDirectory() as tmp:
    template = os.path.join(tmp, "chat.jinja")
    with open(template, "w") as f:
        f.write(TEMPLATE)

    # Invalid UTF-8 between two questions: refused, and both questions answered.
    rc, out, err, turns = chat(["--chat-template", template, "-n", "8"],
                               [QUESTIONS[0].encode(), b"caf\xe9 \xff\xfe", QUESTIONS[1].encode()])
    check(rc == 0, f"a line of invalid UTF-8 does not end the session (status {rc}): {err.strip()[-300:]!r}")
    check("not valid UTF-8" in err, f"the line is refused with a message: {err.strip()[-300:]!r}")
    check(len(turns) == 2, f"the questions before and after it are both answered: {turns}")

    # A context of 160 positions holds about two exchanges: five questions, the
    # oldest dropped as needed, every one answered within the context.
    n_ctx = 160
    rc, out, err, turns = chat(["--chat-template", template, "-n", "16", "-c", str(n_ctx),
                                "--system", "You are a careful tutor."], [q.encode() for q in QUESTIONS])
    check(rc == 0, f"a conversation longer than -c does not end the session (status {rc}): {err.strip()[-300:]!r}")
    dropped = re.findall(r"the conversation outgrew the context \((\d+) positions\): dropped its (\d+) oldest", err)
    check(len(dropped) > 0, f"stderr says that old exchanges were dropped: {err.strip()[-300:]!r}")
    check(len(turns) == len(QUESTIONS), f"every question is answered: {turns}")
    check(all(n + 16 <= n_ctx for n in turns), f"each prompt leaves room for its answer: {turns}")

    # The same without a template (plain turns): the conversation goes on too.
    rc, out, err, turns = chat(["-n", "16", "-c", str(n_ctx)], [q.encode() for q in QUESTIONS])
    check(rc == 0 and len(turns) == len(QUESTIONS), f"plain turns: every question is answered ({rc}, {turns})")

    # A single message longer than the context is refused alone.
    long_question = " ".join(["Mia has 12 apples."] * 60)
    rc, out, err, turns = chat(["--chat-template", template, "-n", "8", "-c", "128"],
                               [long_question.encode(), QUESTIONS[0].encode()])
    check(rc == 0 and "not sent" in err, f"a message beyond the context is refused ({rc}): {err.strip()[-300:]!r}")
    check(len(turns) == 1, f"the next question is answered: {turns}")

sys.exit(check.status())
