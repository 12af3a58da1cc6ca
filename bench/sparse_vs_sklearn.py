#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sparse_vs_sklearn.py FILE.svm [options] - hetgrad-train on a sparse LIBSVM file against
scikit-learn's SGDClassifier on the same file.

Runs, each as its own process under /usr/bin/time -v (for the peak resident set size):
  * hetgrad-train --data FILE (softmax regression, kept sparse: CSR rows on the devices);
  * with --dense also hetgrad-train --dense (the rows densified), where it fits;
  * sklearn.datasets.load_svmlight_file + SGDClassifier(loss="log_loss", tol=None,
    max_iter=EPOCHS) on 80% of the rows, accuracy on the other 20%.
hetgrad-train holds out its own random 20% (--val 0.2).  Training rows/s = training rows
x epochs / training seconds (hetgrad-train's own rows_per_s; for scikit-learn the time of
fit() alone, loading excluded).  Prints one Markdown table row per run.

Options: --train BIN (default build/hetgrad-train), --epochs N (default 5), --batch N
(default 1024), --lr X (default 0.5), --dense, --sklearn-only, --no-sklearn.
Needs Debian's python3-sklearn for the scikit-learn run (run with /usr/bin/python3).
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

SKLEARN = r"""
import json, sys, time
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
path, epochs, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.perf_counter()
X, y = load_svmlight_file(path)
t1 = time.perf_counter()
Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.2, random_state=1)
clf = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, random_state=1,
                    learning_rate="constant", eta0=lr, alpha=1e-6)
t2 = time.perf_counter()
clf.fit(Xtr, ytr)
t3 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "train_s": t3 - t2,
                  "rows_per_s": Xtr.shape[0] * epochs / (t3 - t2),
                  "val_accuracy": float(clf.score(Xva, yva)),
                  "rows": X.shape[0], "features": X.shape[1], "nnz": int(X.nnz)}))
"""


def timed(cmd, env=None):
    """Run cmd under /usr/bin/time -v: (exit status, stdout, peak RSS in MiB, wall s)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", p.stderr)
    secs = 0.0
    if wall:
        for part in wall.group(1).split(":"):
            secs = secs * 60 + float(part)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
    return p.returncode, p.stdout, int(rss.group(1)) / 1024 if rss else float("nan"), secs


def hetgrad(args, dense):
    cmd = [args.train, "--data", args.file, "--model", "softmax", "--optimizer", "sgd",
           "--momentum", "0", "--lr", str(args.lr), "--epochs", str(args.epochs),
           "--batch", str(args.batch), "--json", "--quiet"]
    if dense:
        cmd.append("--dense")
    rc, out, rss, wall = timed(cmd)
    if rc != 0:
        return "| hetgrad-train%s | failed (exit %d) | | | | |" % (" --dense" if dense else "", rc)
    j = json.loads(out)
    return "| hetgrad-train%s | %.0f | %.0f | %.3f | %.1f | %.1f |" % (
        " --dense" if dense else " (sparse)", rss, j["rows_per_s"], j["val_accuracy"],
        j["train_ms"] / 1000, wall)


def sklearn(args):
    rc, out, rss, wall = timed(["/usr/bin/python3", "-c", SKLEARN, args.file,
                                str(args.epochs), str(args.lr)])
    if rc != 0:
        return "| scikit-learn SGDClassifier | failed (exit %d) | | | | |" % rc
    j = json.loads(out)
    return "| scikit-learn SGDClassifier | %.0f | %.0f | %.3f | %.1f | %.1f |" % (
        rss, j["rows_per_s"], j["val_accuracy"], j["train_s"], wall)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--train", default=os.path.join(HERE, "..", "build", "hetgrad-train"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--dense", action="store_true")
    ap.add_argument("--sklearn-only", action="store_true")
    ap.add_argument("--no-sklearn", action="store_true")
    args = ap.parse_args()
    print("%s: %d epochs, batch %d, lr %g" % (args.file, args.epochs, args.batch, args.lr))
    print("| run | peak RSS (MiB) | training rows/s | val accuracy | training s | wall s |")
    print("|---|---|---|---|---|---|")
    if not args.sklearn_only:
        print(hetgrad(args, False), flush=True)
        if args.dense:
            print(hetgrad(args, True), flush=True)
    if not args.no_sklearn:
        print(sklearn(args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
