#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""plot.py INPUT -o OUT.png|OUT.svg - draw a hetgrad run.

INPUT (a file, or - for standard input) is one of:
  * hetgrad-train --metrics FILE (JSON Lines, schema hetgrad-train-metrics/1):
    four panels over the training steps: the loss (training, validation), the
    accuracy (training, validation), each device's share of the rows, and each
    device's rows/s with the run's, so that the rebalancing shows;
  * hetgrad-bench --json (schema hetgrad-bench/1): a bar chart of the
    configurations' rows/s, each bar split by the devices' shares.

The picture is --size W x H pixels (default 1200x800) at 100 dpi: a PNG of
exactly that many pixels, or an SVG of W x H x 0.72 points.  It is written
to a temporary file beside OUT and renamed over it, so OUT is never left half
written.  Needs matplotlib (Debian: python3-matplotlib, installed by
scripts/setup.sh) and nothing else.  docs/train.md describes the pictures,
docs/json.md the input files.

Exit status: 0 drawn; 1 an input that is not one of the above (the message
names the file, the line and the problem), or OUT cannot be written; 2 a
usage error.
"""
import argparse
import json
import os
import re
import sys
import tempfile

PROG = "plot.py"
METRICS_SCHEMA = "hetgrad-train-metrics/1"
BENCH_SCHEMA = "hetgrad-bench/1"
DPI = 100


class InputError(Exception):
    """An input file plot.py cannot draw; str() is the whole message."""


# ---- reading and checking the input --------------------------------------------------

def _no_constants(name):
    raise ValueError("%s is not JSON (a value that is not finite is written as null)" % name)


def _no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError("key %r appears twice" % k)
        seen[k] = v
    return seen


def parse_json(text):
    """Strict JSON: no NaN or Infinity, no key twice.  Raises ValueError."""
    return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)


def _type_ok(value, kind):
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "number/null":
        return value is None or _type_ok(value, "number")
    if kind == "string":
        return isinstance(value, str)
    if kind == "string/null":
        return value is None or isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    raise AssertionError(kind)


def check_keys(obj, spec, where):
    """obj must be an object holding each key of spec with its type."""
    if not isinstance(obj, dict):
        raise InputError("%s: expected a JSON object, found %s" % (where, type_name(obj)))
    for key, kind in spec.items():
        if key not in obj:
            raise InputError("%s: no %r key" % (where, key))
        if not _type_ok(obj[key], kind):
            raise InputError("%s: %r is %s, expected %s"
                             % (where, key, short(obj[key]), kind.replace("/", " or ")))


def type_name(v):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(v), "a number")


def short(v):
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


RECORD_KEYS = {"schema": "string", "kind": "string", "epoch": "int", "step": "int",
               "steps": "int", "rows": "int", "train_ms": "number", "loss": "number/null",
               "train_accuracy": "number/null", "val_loss": "number/null",
               "val_accuracy": "number/null", "rows_per_s": "number/null", "devices": "list"}
RECORD_DEVICE_KEYS = {"name": "string", "id": "string/null", "kernel": "string/null",
                      "rows": "int", "share": "number", "busy_ms": "number",
                      "rows_per_s": "number/null"}
BENCH_KEYS = {"schema": "string", "model": "string", "rows": "int", "features": "int",
              "classes": "int", "steps": "int", "devices": "list", "configs": "list"}
BENCH_DEVICE_KEYS = {"name": "string", "kernel": "string"}
BENCH_CONFIG_KEYS = {"name": "string", "measured": "bool", "rows": "int",
                     "rows_per_s": "number/null", "vs_best_solo": "number/null",
                     "shares": "list"}


def schema_error(where, schema):
    what = "%s: schema %s" % (where, short(schema))
    for known in (METRICS_SCHEMA, BENCH_SCHEMA):
        base = known.rsplit("/", 1)[0]
        if isinstance(schema, str) and schema.startswith(base + "/"):
            return InputError("%s: this plot.py reads %s (a newer hetgrad wrote this file?)"
                              % (what, known))
    return InputError("%s is not one plot.py draws: it reads hetgrad-train --metrics "
                      "(%s) and hetgrad-bench --json (%s)" % (what, METRICS_SCHEMA, BENCH_SCHEMA))


def read_input(path):
    """("metrics", [record]) or ("bench", document); raises InputError."""
    name = "standard input" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise InputError("%s: %s" % (name, e.strerror or e))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputError("%s:%d: not UTF-8 (byte 0x%02x at offset %d): not a file hetgrad "
                         "wrote" % (name, line, data[e.start], e.start))
    if not text.strip():
        raise InputError("%s is empty: expected hetgrad-train --metrics or hetgrad-bench "
                         "--json output" % name)
    lines = text.split("\n")
    first_no, first = next((i + 1, l) for i, l in enumerate(lines) if l.strip())
    try:
        head = parse_json(first)
    except ValueError:
        head = None
    if isinstance(head, dict) and head.get("schema") == METRICS_SCHEMA:
        return "metrics", read_metrics(name, lines)
    try:
        doc = parse_json(text)
    except ValueError as e:
        if head is not None:  # a first line that is JSON, then something else
            raise schema_error("%s:%d" % (name, first_no),
                               head.get("schema") if isinstance(head, dict) else None)
        raise InputError("%s:%d: not JSON: %s" % (name, first_no, e))
    if not isinstance(doc, dict):
        raise InputError("%s: expected a JSON object, found %s" % (name, type_name(doc)))
    if doc.get("schema") != BENCH_SCHEMA:
        raise schema_error(name, doc.get("schema"))
    check_bench(name, doc)
    return "bench", doc


def read_metrics(name, lines):
    """The records of a --metrics file, checked; an unfinished last line (no newline:
    the run is still writing it) is left out with a note."""
    records = []
    last = max(i for i, l in enumerate(lines) if l.strip())
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = "%s:%d" % (name, i + 1)
        try:
            rec = parse_json(line)
        except ValueError as e:
            if i == last and i == len(lines) - 1:  # no newline after it
                print("%s: %s: an unfinished last line (is the run still writing?): left out"
                      % (PROG, where), file=sys.stderr)
                continue
            raise InputError("%s: not JSON: %s" % (where, e))
        check_keys(rec, RECORD_KEYS, where)
        if rec["schema"] != METRICS_SCHEMA:
            raise schema_error(where, rec["schema"])
        if rec["kind"] not in ("step", "epoch"):
            raise InputError("%s: 'kind' is %s, expected \"step\" or \"epoch\""
                             % (where, short(rec["kind"])))
        for k, d in enumerate(rec["devices"]):
            check_keys(d, RECORD_DEVICE_KEYS, "%s: devices[%d]" % (where, k))
        names = [d["name"] for d in rec["devices"]]
        if records and names != [d["name"] for d in records[0]["devices"]]:
            raise InputError("%s: the devices %s differ from line %d's %s: two runs in one "
                             "file?" % (where, short(names), records[0]["line"],
                                        short([d["name"] for d in records[0]["devices"]])))
        if records and rec["step"] < records[-1]["step"]:
            raise InputError("%s: step %d after step %d: two runs in one file?"
                             % (where, rec["step"], records[-1]["step"]))
        rec["line"] = i + 1
        records.append(rec)
    if not records:
        raise InputError("%s: no complete record" % name)
    return records


def check_bench(name, doc):
    check_keys(doc, BENCH_KEYS, name)
    for k, d in enumerate(doc["devices"]):
        check_keys(d, BENCH_DEVICE_KEYS, "%s: devices[%d]" % (name, k))
    if not doc["configs"]:
        raise InputError("%s: no configuration to draw ('configs' is empty)" % name)
    for k, c in enumerate(doc["configs"]):
        where = "%s: configs[%d]" % (name, k)
        check_keys(c, BENCH_CONFIG_KEYS, where)
        if len(c["shares"]) != len(doc["devices"]) or \
                not all(_type_ok(s, "number") for s in c["shares"]):
            raise InputError("%s: 'shares' must hold a number for each of the %d devices"
                             % (where, len(doc["devices"])))


# ---- drawing ------------------------------------------------------------------------

def label(text, limit=48):
    """Text for a label: control characters shown as '?', '$' kept literal (no
    mathtext), long names cut."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", text).replace("$", r"\$")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def device_label(k, d):
    kernel = " (%s)" % d["kernel"] if d.get("kernel") else ""
    rank = "%d:" % d["rank"] if "rank" in d else ""
    return label("[%s%d] %s%s" % (rank, k, d["name"], kernel), 60)


def nan(v):
    return float("nan") if v is None else float(v)


def plot_metrics(records, title, fig):
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    series = steps or epochs  # the split over the run: step records when there are
    devices = series[0]["devices"]
    # the devices' legend in a row of its own under the panels, so that it never hides
    # a curve, whatever the size and the number of devices
    ncol = 1 if len(devices) < 2 else 2 if len(devices) < 4 else 3
    rows = -(-(len(devices) + 1) // ncol)
    grid = fig.subplot_mosaic([["loss", "acc"], ["share", "rate"], ["key", "key"]],
                              gridspec_kw={"height_ratios": [1, 1, 0.09 * rows + 0.02]})
    ax_loss, ax_acc, ax_share, ax_rate = (grid[k] for k in ("loss", "acc", "share", "rate"))
    panels = (ax_loss, ax_acc, ax_share, ax_rate)
    for ax in panels[1:]:
        ax.sharex(ax_loss)

    if steps:
        ax_loss.plot([r["step"] for r in steps], [nan(r["loss"]) for r in steps],
                     color="tab:blue", alpha=0.35, lw=1, label="training (per record)")
    if epochs:
        xs = [r["step"] for r in epochs]
        ax_loss.plot(xs, [nan(r["loss"]) for r in epochs], "o-", color="tab:blue",
                     label="training (epoch mean)")
        ax_loss.plot(xs, [nan(r["val_loss"]) for r in epochs], "s-", color="tab:orange",
                     label="validation")
        ax_acc.plot(xs, [100 * nan(r["train_accuracy"]) for r in epochs], "o-",
                    color="tab:blue", label="training")
        ax_acc.plot(xs, [100 * nan(r["val_accuracy"]) for r in epochs], "s-",
                    color="tab:orange", label="validation")
    else:
        ax_acc.text(0.5, 0.5, "no epoch record yet", ha="center", va="center",
                    transform=ax_acc.transAxes)
    ax_loss.set_title("loss")
    ax_loss.set_ylabel("mean loss")
    ax_acc.set_title("accuracy (at the end of each epoch)")
    ax_acc.set_ylabel("%")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")

    every = series[0]["steps"]
    what = ("every step" if every == 1 else "every %d steps" % every) if steps else "per epoch"
    xs = [r["step"] for r in series]
    rate_range = []
    for k, d in enumerate(devices):
        lab = device_label(k, d)
        share = [100 * r["devices"][k]["share"] for r in series]
        rate = [nan(r["devices"][k]["rows_per_s"]) for r in series]
        ax_share.plot(xs, share, drawstyle="steps-pre", lw=1.5, label=lab)
        ax_rate.plot(xs, rate, drawstyle="steps-pre", lw=1.5, label=lab)
        rate_range += [v for v in rate if v > 0]
    total = [nan(r["rows_per_s"]) for r in series]
    ax_rate.plot(xs, total, drawstyle="steps-pre", color="black", lw=1, ls="--",
                 label="the run (its rows / its steps' wall time)")
    rate_range += [v for v in total if v > 0]
    ax_share.set_title("each device's share of the rows (%s)" % what)
    ax_share.set_ylabel("% of the rows")
    ax_share.set_ylim(-3, 103)
    ax_rate.set_title("rows/s (a device's: over its busy time)")
    ax_rate.set_ylabel("rows/s")
    if rate_range and max(rate_range) / min(rate_range) > 30:
        ax_rate.set_yscale("log")
    for ax in (ax_share, ax_rate):
        ax.grid(alpha=0.3)
        ax.set_xlabel("step")
    grid["key"].axis("off")
    grid["key"].legend(*ax_rate.get_legend_handles_labels(), loc="center", ncol=ncol,
                       fontsize="small", frameon=False)
    # where the epochs end
    for r in epochs:
        for ax in panels:
            ax.axvline(r["step"], color="grey", lw=0.5, alpha=0.4)
    last = records[-1]
    fig.suptitle(title or label("hetgrad-train: %d epochs, %d steps, %d devices"
                                % (last["epoch"], last["step"], len(devices)), 120))


def plot_bench(plt, doc, title, fig):
    ndev = len(doc["devices"])
    ncol = 1 if ndev < 2 else 2 if ndev < 4 else 3
    rows = max(1, -(-ndev // ncol))
    grid = fig.subplot_mosaic([["bars"], ["key"]],
                              gridspec_kw={"height_ratios": [1, 0.045 * rows + 0.01]})
    ax = grid["bars"]
    configs = doc["configs"][::-1]  # the first at the top
    names = [label(c["name"] + ("" if c["measured"] else " (predicted)"), 40)
             for c in configs]
    ys = range(len(configs))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    left = [0.0] * len(configs)
    for k, d in enumerate(doc["devices"]):
        widths = [nan(c["rows_per_s"]) * c["shares"][k] if c["rows_per_s"] else 0
                  for c in configs]
        ax.barh(ys, widths, left=left, color=colors[k % len(colors)],
                label=label("[%d] %s (%s)" % (k, d["name"], d["kernel"]), 60),
                edgecolor="white", lw=0.5)
        left = [a + w for a, w in zip(left, widths)]
    # predictions hatched over their bars
    for y, c in zip(ys, configs):
        if not c["measured"] and c["rows_per_s"]:
            ax.barh([y], [c["rows_per_s"]], fill=False, hatch="//", edgecolor="black", lw=0)
    top = max([nan(c["rows_per_s"]) for c in configs if c["rows_per_s"]] or [1])
    for y, c in zip(ys, configs):
        if c["rows_per_s"] is None:
            text = "not measured"
        else:
            text = "%s rows/s" % si(c["rows_per_s"])
            if c["vs_best_solo"] is not None:
                text += "  ×%.2f best solo" % c["vs_best_solo"]
        ax.text((c["rows_per_s"] or 0) + top * 0.01, y, text, va="center", fontsize="small")
    ax.set_yticks(list(ys))
    ax.set_yticklabels(names)
    ax.set_xlim(0, top * 1.35)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: si(v) if v else "0"))
    ax.set_xlabel("rows/s (median step); each bar split by the devices' shares")
    ax.grid(axis="x", alpha=0.3)
    grid["key"].axis("off")
    if ndev:
        grid["key"].legend(*ax.get_legend_handles_labels(), loc="center", ncol=ncol,
                           fontsize="small", frameon=False)
    fig.suptitle(title or label("hetgrad-bench: %s, %d rows × %d features, %d classes, "
                                "median of %d steps"
                                % (doc["model"], doc["rows"], doc["features"],
                                   doc["classes"], doc["steps"]), 120))


def si(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return "%.3g%s" % (v / div, suffix)
    return "%.3g" % v


def size_arg(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or not (100 <= int(m.group(1)) <= 10000 and 100 <= int(m.group(2)) <= 10000):
        raise argparse.ArgumentTypeError("%r is not WxH in pixels, each 100 to 10000" % text)
    return int(m.group(1)), int(m.group(2))


def main(argv):
    ap = argparse.ArgumentParser(
        prog=PROG, description="Draw hetgrad-train --metrics (training curves and the "
        "devices' split) or hetgrad-bench --json (a bar chart of the configurations).")
    ap.add_argument("input", metavar="INPUT",
                    help="a hetgrad-train --metrics file or hetgrad-bench --json output; "
                         "- for standard input")
    ap.add_argument("-o", "--output", metavar="OUT", required=True,
                    help="the picture: OUT.png or OUT.svg")
    ap.add_argument("--size", metavar="WxH", type=size_arg, default=(1200, 800),
                    help="pixels at 100 dpi (default 1200x800; an SVG is W x H x 0.72 pt)")
    ap.add_argument("--title", metavar="TEXT", help="the picture's title (default: the run)")
    args = ap.parse_args(argv)
    fmt = os.path.splitext(args.output)[1].lower().lstrip(".")
    if fmt not in ("png", "svg"):
        ap.error("-o %s: the picture must end in .png or .svg" % args.output)

    try:
        kind, content = read_input(args.input)
    except InputError as e:
        print("%s: %s" % (PROG, e), file=sys.stderr)
        return 1
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print("%s: matplotlib is needed (%s): apt-get install python3-matplotlib "
              "(scripts/setup.sh installs it)" % (PROG, e), file=sys.stderr)
        return 1

    w, h = args.size
    # text in proportion to the picture: 10 pt at the default size, 6 to 16 pt
    plt.rcParams["font.size"] = max(6.0, min(16.0, 10 * min(w / 1200, h / 800)))
    fig = plt.figure(figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained")
    if kind == "metrics":
        plot_metrics(content, args.title, fig)
    else:
        plot_bench(plt, content, args.title, fig)

    out_dir = os.path.dirname(os.path.abspath(args.output))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(args.output) + ".",
                                   suffix=".tmp", dir=out_dir)
        with os.fdopen(fd, "wb") as f:
            # no date in the file: the same input gives the same picture
            fig.savefig(f, format=fmt, dpi=DPI,
                        metadata={"Date": None} if fmt == "svg" else {"Software": None})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp's 0600 -> what open() would give
        os.replace(tmp, args.output)
        tmp = None
    except OSError as e:
        print("%s: %s: %s" % (PROG, args.output, e.strerror or e), file=sys.stderr)
        return 1
    finally:
        if tmp:
            os.unlink(tmp)
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
