#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""digits_vs_sklearn.py [HETGRAD_TRAIN] - hetgrad-train against scikit-learn.

Softmax regression on scikit-learn's digits data set.  The split is
train_test_split(test_size=0.25, stratify=y, random_state=0), and the features
are standardised with the training rows' statistics.  Both sides train on the
same CSV files:
  * hetgrad-train --data train.csv --test test.csv (Adam, lr 0.01, 100
    epochs, L2 penalty 1/n_train on the weights, the same objective as
    sklearn's C = 1; no validation split: all training rows are used, as
    sklearn uses them);
  * sklearn.linear_model.LogisticRegression (multinomial, lbfgs, C=1.0,
    max_iter=5000), the reference a user would reach for.
Prints both test accuracies and the difference in points; exits 1 when
hetgrad is more than 1 point below scikit-learn.

Needs Debian's python3-sklearn (run with /usr/bin/python3).
"""
import json
import os
import subprocess
import sys
import tempfile

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

train_bin = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "build-release", "hetgrad-train")

X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
mean = Xtr.mean(axis=0)
std = Xtr.std(axis=0)
std[std == 0] = 1.0
Xtr = (Xtr - mean) / std
Xte = (Xte - mean) / std

ref = LogisticRegression(max_iter=5000, C=1.0)
ref.fit(Xtr, ytr)
sk_acc = ref.score(Xte, yte)

with tempfile.TemporaryDirectory() as d:
    def write(path, X_, y_):
        with open(path, "w") as f:
            for row, label in zip(X_, y_):
                f.write(",".join("%.7g" % v for v in row) + ",%d\n" % label)
    tr, te = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
    write(tr, Xtr, ytr)
    write(te, Xte, yte)
    l2 = 1.0 / len(ytr)  # sklearn's C = 1 penalty, per row: 1 / (C n)
    out = subprocess.run([train_bin, "--data", tr, "--test", te, "--val", "0", "--epochs", "100",
                          "--lr", "0.01", "--l2", "%.6g" % l2, "--json"],
                         capture_output=True, text=True, check=True)
    hg = json.loads(out.stdout)

hg_acc = hg["test_accuracy"]
print("digits, %d train / %d test rows, standardised features" % (len(ytr), len(yte)))
print("scikit-learn LogisticRegression: test accuracy %.4f" % sk_acc)
print("hetgrad-train softmax (Adam, 100 epochs, L2 1/n): test accuracy %.4f  (devices: %s)"
      % (hg_acc, ", ".join(x["name"] for x in hg["devices"])))
diff = 100 * (hg_acc - sk_acc)
print("difference: %+.2f points" % diff)
sys.exit(0 if diff >= -1.0 else 1)
