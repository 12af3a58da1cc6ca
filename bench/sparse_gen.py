#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sparse_gen.py ROWS FEATURES DENSITY OUT.svm [SEED] - a synthetic sparse LIBSVM file.

Each row holds round(FEATURES * DENSITY) non-zeros at distinct random columns (ascending,
1-based as LIBSVM wants), with values uniform in [0, 1) written with 3 significant
digits.  The label (0 or 1) is the sign of x . w + noise for a hidden weight vector w
with N(0, 1) entries, so a linear classifier can learn it.  Standard library only;
deterministic for a given SEED (default 1).  Example, the issue-14 target set:

    bench/sparse_gen.py 20000 1000000 0.001 /tmp/sparse-1m.svm
"""
import random
import sys


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    rows, features = int(sys.argv[1]), int(sys.argv[2])
    density, out = float(sys.argv[3]), sys.argv[4]
    seed = int(sys.argv[5]) if len(sys.argv) == 6 else 1
    nnz = max(1, round(features * density))
    if rows < 1 or features < 1 or nnz > features:
        print("sparse_gen: need ROWS >= 1, FEATURES >= 1, 0 < DENSITY <= 1", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    w = [rng.gauss(0.0, 1.0) for _ in range(features)]
    scale = (nnz / 3.0) ** 0.5  # |x . w| is about sqrt(nnz / 3)
    with open(out, "w", encoding="ascii") as f:
        for _ in range(rows):
            cols = sorted(rng.sample(range(features), nnz))
            vals = [round(rng.random(), 3) for _ in cols]
            s = sum(v * w[c] for c, v in zip(cols, vals)) + rng.gauss(0.0, 0.3 * scale)
            f.write("%d %s\n" % (1 if s > 0 else 0,
                                 " ".join("%d:%g" % (c + 1, v) for c, v in zip(cols, vals))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
