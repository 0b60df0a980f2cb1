#!/usr/bin/env python3
"""Picks the inputs of a fuzz run worth keeping as seeds: a greedy cover of the code
they reach beyond the seeds already kept, at most N files.

    build-fuzz/tests/fuzz/fuzz_T -merge=1 -merge_control_file=CTL EMPTY_DIR tests/data/T build-fuzz/corpus/T
    tools/fuzz_pick_seeds.py CTL tests/data/T N OUT_DIR

The control file of libFuzzer's merge lists, per input (smallest first), the edges it
reached that no input before it had; inputs whose name is already a kept seed count
as kept. Each round takes the input that adds the most edges (the smaller on a tie)."""
import os
import shutil
import sys


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ctl, seeds_dir, n_max, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    lines = open(ctl).read().split('\n')
    n = int(lines[0])
    files = lines[2:2 + n]
    cov = {}
    for line in lines[2 + n:]:
        if line.startswith('COV '):
            parts = line.split()
            cov[int(parts[1])] = set(map(int, parts[2:]))
    kept_names = set(os.listdir(seeds_dir))
    seeds = os.path.abspath(seeds_dir) + '/'
    covered, candidates = set(), []
    for i, f in enumerate(files):
        if os.path.abspath(f).startswith(seeds) or os.path.basename(f) in kept_names:
            covered |= cov.get(i, set())
        else:
            candidates.append(i)
    print(f'kept seeds reach {len(covered)} edges of {len(set().union(*cov.values()))}')
    os.makedirs(out, exist_ok=True)
    for _ in range(n_max):
        if not candidates:
            break
        best = max(candidates, key=lambda i: (len(cov.get(i, set()) - covered), -os.path.getsize(files[i])))
        gain = len(cov.get(best, set()) - covered)
        if gain == 0:
            break
        covered |= cov[best]
        candidates.remove(best)
        shutil.copy(files[best], out)
        print(f'+{gain} edges, {os.path.getsize(files[best])} bytes: {files[best]}')
    print(f'together {len(covered)} edges')


if __name__ == '__main__':
    main()
