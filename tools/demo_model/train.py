"""Trains the demo model on the CPU (seeded, AdamW, warm-up + cosine decay).

Each example is one problem, [BOS] prompt completion [EOS], right-padded within
its batch (no packing, so positions match inference). The loss is taken on the
completion and the EOS only: the prompt is always given at inference, and the
small model's capacity goes to the arithmetic. In correction examples the wrong
result of the wrong step is masked out of the loss (it stays in the input), so
the model learns " Wait," and the correction after an error without being taught
to make the error. With --init and --decisions-only (the second stage, on the
model's own mistakes) the loss is only on the decision after each step and on the
recheck after a marker (examples.encode_example). With --anchor the untrained
completion tokens (the first attempts at each step) are held to the --init weights'
predictions by a KL term, so the second stage can run long enough to learn the
rechecks without moving the model's arithmetic (and its accuracy) out of its band.

The schedule's progress is max(step / steps, elapsed / time_budget): with a time
budget the learning rate decays to its floor when the time is spent, whatever the
machine's load. For an exactly repeatable run pass --time-budget 0 and the
--steps that the log reports.

--device cuda trains on a GPU (to compare variants quickly; sample_eval.py
measures them there too). The shipped weights are trained on the CPU.

Writes (under --out, default tools/demo_model/work/run): train.log, loss.csv,
eval.csv, ckpt.pt (every --ckpt-every seconds and at the end), loss.png if matplotlib.

  /usr/bin/python3 tools/demo_model/train.py --steps 6000 --time-budget 2700
"""
import argparse
import csv
import gzip
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpe import Tokenizer  # noqa: E402
from examples import encode_example  # noqa: E402
from model import Config, Transformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def load_rows(path, n=None):
    rows = []
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        for line in f:
            rows.append(json.loads(line))
            if n and len(rows) >= n:
                break
    return rows


def make_batch(examples):
    T = max(len(x) for x, _ in examples)
    inp = torch.full((len(examples), T - 1), 0, dtype=torch.long)
    tgt = torch.full((len(examples), T - 1), -100, dtype=torch.long)
    for i, (x, m) in enumerate(examples):
        n = len(x) - 1
        inp[i, :n] = torch.tensor(x[:-1])
        y = torch.tensor(x[1:])
        y[torch.tensor(m[1:]) == 0] = -100
        tgt[i, :n] = y
    return inp, tgt


def anchored_loss(logits, tgt, ref_logits, anchor_pos, weight):
    """Cross-entropy on the trained tokens plus weight * KL(reference || model) at the
    anchor positions: the completion tokens that are not trained (first attempts at
    each step), where the model should keep predicting what the --init weights did."""
    V = logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=-100)
    if not anchor_pos.any():
        return ce
    logp = F.log_softmax(logits[anchor_pos].float(), -1)
    ref = F.log_softmax(ref_logits[anchor_pos].float(), -1)
    kl = F.kl_div(logp, ref, log_target=True, reduction="batchmean")
    return ce + weight * kl


@torch.no_grad()
def masked_loss(model, examples, bs=64):
    model.eval()
    tot, n = 0.0, 0
    dev = next(model.parameters()).device
    for i in range(0, len(examples), bs):
        inp, tgt = make_batch(examples[i:i + bs])
        inp, tgt = inp.to(dev), tgt.to(dev)
        logits = model(inp)
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                               ignore_index=-100, reduction="sum").item()
        n += (tgt != -100).sum().item()
    model.train()
    return tot / n


def final_answer(text):
    """The integer after the last "The answer is", or None."""
    k = text.rfind("The answer is ")
    if k < 0:
        return None
    digits = ""
    for ch in text[k + len("The answer is "):]:
        if not ch.isdigit():
            break
        digits += ch
    return digits or None


@torch.no_grad()
def greedy_accuracy(model, tok, rows, max_new=96):
    """Returns ({steps: (correct, total)}, outputs)."""
    model.eval()
    prompts = [tok.encode(r["prompt"], bos=True) for r in rows]
    outs = model.generate_greedy(prompts, max_new, tok.eos)
    model.train()
    res, texts = {}, []
    for r, o in zip(rows, outs):
        text = tok.decode([t for t in o if t != tok.eos])
        texts.append(text)
        c, n = res.get(r["steps"], (0, 0))
        res[r["steps"]] = (c + (final_answer(text) == r["answer"]), n + 1)
    return res, texts


def fmt_acc(res):
    c = sum(v[0] for v in res.values())
    n = sum(v[1] for v in res.values())
    per = " ".join(f"s{k}={v[0] / v[1]:.3f}" for k, v in sorted(res.items()))
    return c / max(n, 1), f"{c}/{n}={c / max(n, 1):.3f} ({per})"


def save_plot(out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    steps, losses = [], []
    with open(os.path.join(out, "loss.csv")) as f:
        for r in csv.DictReader(f):
            steps.append(int(r["step"]))
            losses.append(float(r["loss"]))
    plt.figure(figsize=(6, 4))
    plt.plot(steps, losses)
    plt.yscale("log")
    plt.xlabel("step")
    plt.ylabel("train loss")
    plt.savefig(os.path.join(out, "loss.png"), dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train", default=os.path.join(HERE, "work", "train.jsonl"))
    ap.add_argument("--val", default=os.path.join(HERE, "work", "val.jsonl"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "demo", "tokenizer.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "work", "run"))
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=688)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--time-budget", type=float, default=0, help="seconds; 0 = none")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--eval-every", type=float, default=600, help="seconds between evaluations")
    ap.add_argument("--ckpt-every", type=float, default=300, help="seconds between checkpoints")
    ap.add_argument("--n-train", type=int, default=0, help="use only the first N problems (0 = all)")
    ap.add_argument("--init", default="", help="start from the weights of this checkpoint (continued training)")
    ap.add_argument("--decisions-only", action="store_true",
                    help="continued training on the model's own corrections: the loss only on the token after "
                         "each step's '.' and on the recheck after the marker (examples.encode_example)")
    ap.add_argument("--anchor", type=float, default=0.0,
                    help="with --init and --decisions-only: weight of KL(init || model) on the untrained completion "
                         "tokens, so that the first attempts (and the accuracy) stay where the --init weights had "
                         "them while the rechecks are learned")
    ap.add_argument("--device", default="cpu", help="torch device (cpu, cuda); the shipped weights are trained on cpu")
    ap.add_argument("--keep-ckpts", action="store_true",
                    help="also keep a copy of the weights at every evaluation (ckpt-stepN.pt), to pick one later")
    args = ap.parse_args()
    if args.anchor > 0 and not args.init:
        ap.error("--anchor needs --init: the weights the first attempts are held to")

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    log_f = open(os.path.join(args.out, "train.log"), "a")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_f.write(line + "\n")
        log_f.flush()

    tok = Tokenizer.load(args.tokenizer)
    t0 = time.time()
    train_rows = load_rows(args.train, args.n_train or None)
    train = [encode_example(tok, r, args.decisions_only) for r in train_rows]
    prompt_len = [len(tok.encode(r["prompt"], bos=True)) for r in train_rows]
    val_rows = load_rows(args.val)
    val = [encode_example(tok, r) for r in val_rows]
    log(f"tokenized {len(train)} train / {len(val)} val problems in {time.time() - t0:.0f}s; "
        f"mean length {sum(len(x) for x, _ in train) / len(train):.1f} tokens")

    cfg = Config(vocab_size=tok.vocab_size, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                 n_kv_heads=args.kv_heads, hidden_dim=args.hidden)
    model = Transformer(cfg)
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu")["model"])
    dev = torch.device(args.device)
    model.to(dev)
    reference = None
    if args.anchor > 0:
        reference = Transformer(cfg)
        reference.load_state_dict(torch.load(args.init, map_location="cpu")["model"])
        reference.to(dev).eval().requires_grad_(False)
    log(f"config {json.dumps(cfg.to_dict())}; {model.n_params()} parameters; args {vars(args)}")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    order = list(range(len(train)))
    rng = random.Random(args.seed)
    rng.shuffle(order)
    cursor = 0

    loss_f = open(os.path.join(args.out, "loss.csv"), "w", newline="")
    loss_w = csv.writer(loss_f)
    loss_w.writerow(["step", "elapsed_s", "lr", "loss", "tokens"])
    eval_f = open(os.path.join(args.out, "eval.csv"), "w", newline="")
    eval_w = csv.writer(eval_f)
    eval_w.writerow(["step", "elapsed_s", "val_loss", "val_greedy_acc"])

    def checkpoint(step, elapsed):
        tmp = os.path.join(args.out, "ckpt.pt.tmp")
        torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "step": step,
                    "elapsed_s": elapsed, "args": vars(args)}, tmp)
        os.replace(tmp, os.path.join(args.out, "ckpt.pt"))

    def evaluate(step, elapsed):
        vl = masked_loss(model, val)
        res, _ = greedy_accuracy(model, tok, val_rows[:100])
        acc, s = fmt_acc(res)
        eval_w.writerow([step, f"{elapsed:.0f}", f"{vl:.4f}", f"{acc:.4f}"])
        eval_f.flush()
        log(f"eval step {step}: val loss {vl:.4f}, greedy acc on 100 val {s}")
        if args.keep_ckpts:
            torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "step": step,
                        "elapsed_s": elapsed, "args": vars(args)}, os.path.join(args.out, f"ckpt-step{step}.pt"))

    start = time.time()
    last_ckpt = last_eval = start
    tokens_seen = 0
    step = 0
    ema = None
    while True:
        elapsed = time.time() - start
        progress = step / args.steps
        if args.time_budget > 0:
            progress = max(progress, elapsed / args.time_budget)
        if progress >= 1.0:
            break
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        if cursor + args.batch > len(order):
            rng.shuffle(order)
            cursor = 0
        picked = order[cursor:cursor + args.batch]
        cursor += args.batch
        inp, tgt = make_batch([train[i] for i in picked])
        inp, tgt = inp.to(dev), tgt.to(dev)
        logits = model(inp)
        if reference is None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        else:
            with torch.no_grad():
                ref_logits = reference(inp)
            anchor_pos = torch.zeros_like(tgt, dtype=torch.bool)
            for row, i in enumerate(picked):  # logit t-1 predicts token t: completion tokens from prompt_len
                anchor_pos[row, prompt_len[i] - 1:len(train[i][0]) - 2] = True
            anchor_pos &= tgt == -100
            loss = anchored_loss(logits, tgt, ref_logits, anchor_pos, args.anchor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += inp.numel()
        lv = loss.item()
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        loss_w.writerow([step, f"{time.time() - start:.1f}", f"{lr:.6g}", f"{lv:.5f}", tokens_seen])
        if step % 50 == 0:
            loss_f.flush()
            el = time.time() - start
            log(f"step {step} loss {lv:.4f} (ema {ema:.4f}) lr {lr:.2e} "
                f"{step / el:.2f} steps/s {tokens_seen / el:.0f} tok/s elapsed {el:.0f}s")
        now = time.time()
        if now - last_ckpt > args.ckpt_every:
            checkpoint(step, now - start)
            last_ckpt = now
        if args.eval_every > 0 and now - last_eval > args.eval_every:
            evaluate(step, now - start)
            last_eval = time.time()
    elapsed = time.time() - start
    loss_f.flush()
    checkpoint(step, elapsed)
    log(f"done: {step} steps in {elapsed:.0f}s, {tokens_seen} tokens (padded), final ema loss {ema:.4f}")
    evaluate(step, elapsed)
    save_plot(args.out)


if __name__ == "__main__":
    main()
