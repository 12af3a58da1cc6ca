#!/usr/bin/python3
"""Write data/digits.hgd from scikit-learn's digits data set (see data/README.md)."""
import struct
import sys

from sklearn.datasets import load_digits

d = load_digits()
x = d.data.astype(int)
y = d.target.astype(int)
assert x.min() >= 0 and x.max() <= 16
out = sys.argv[1] if len(sys.argv) > 1 else "data/digits.hgd"
with open(out, "wb") as f:
    f.write(b"HGD1" + struct.pack("<IIII", x.shape[0], x.shape[1], 10, 16))
    f.write(bytes(x.flatten().tolist()))
    f.write(bytes(y.tolist()))
print("wrote", out, x.shape)
