"""Training examples for the demo model: token ids and the loss mask of one row.

Kept apart from train.py (which needs torch) so the tests can check the masks with
nothing but the tokenizer."""
from tasks import MARKER


def encode_example(tok, row, decisions_only=False):
    """(ids, loss mask) for [BOS] prompt completion [EOS]; wrong results masked.

    With decisions_only (continued training on the model's own corrections) only
    the token after each step's "." (the decision to recheck or not) and the
    recheck itself are trained, never the first attempts at a step, so the
    model's arithmetic changes as little as it can."""
    p = tok.encode(row["prompt"], bos=True)
    comp = row["completion"]
    ids, mask, pos = [], [], 0
    for a, b in row.get("wrong_spans", []):
        for piece, m in ((comp[pos:a], 1), (comp[a:b], 0)):
            t = tok.encode(piece)
            ids += t
            mask += [m] * len(t)
        pos = b
    t = tok.encode(comp[pos:])
    ids += t
    mask += [1] * len(t)
    assert ids == tok.encode(comp), "span split changed the tokenization"
    if decisions_only:
        marker, stop = tok.encode(MARKER)[0], tok.encode(".")[0]
        mask = [0] + [int(ids[i - 1] == stop) for i in range(1, len(ids))]
        if marker in ids:
            k = ids.index(marker)
            end = ids.index(stop, k)
            mask[k:end + 1] = [1] * (end + 1 - k)
    return p + ids + [tok.eos], [0] * len(p) + mask + [1]
