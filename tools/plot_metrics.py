#!/usr/bin/python3
"""Plots a cascade run's metrics.jsonl as PNG files.

Usage: plot_metrics.py RUNDIR/metrics.jsonl|RUNDIR [-o OUTDIR]   (default OUTDIR: RUNDIR/plots)

metrics.jsonl holds one JSON object a line: step, epoch, split ("train"/"valid"), loss, lr,
samples_per_s, time_s and the task's metrics. Writes into OUTDIR:
  loss.png            loss against step, one line per split (log scale when all positive)
  lr.png              learning rate against step
  metric-KEY.png      every other numeric key against step, one line per split
A run still in progress may have a partly written last line: it is skipped with a note.
A malformed line elsewhere is an error naming file:line (exit 3).
Needs only matplotlib (Debian python3-matplotlib); draws with the Agg backend, no display.
"""
import argparse
import json
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NOT_PLOTTED = {"step", "epoch", "split", "loss", "lr"}


class MetricsError(Exception):
    pass


def read_records(path):
    """List of dicts from a JSON-lines file; tolerates a partial (unterminated) last line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise MetricsError(f"cannot read {path}: {err.strerror}") from err
    lines = text.split("\n")
    last_number = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_last = number == last_number
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if is_last:
                print(f"plot_metrics.py: {path}:{number}: skipping the incomplete last line",
                      file=sys.stderr)
                continue
            raise MetricsError(f"{path}:{number}: not a JSON object: {err.msg}") from err
        if not isinstance(record, dict) or not isinstance(record.get("step"), (int, float)):
            raise MetricsError(f"{path}:{number}: expected an object with a numeric \"step\"")
        records.append(record)
    return records


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def series(records, key):
    """{split: (steps, values)} of the records holding a numeric KEY; inf shown as a gap."""
    out = {}
    for record in records:
        value = record.get(key)
        if not is_number(value):
            continue
        steps, values = out.setdefault(str(record.get("split", "train")), ([], []))
        steps.append(record["step"])
        values.append(value if math.isfinite(value) else math.nan)
    return out


def plot(records, key, ylabel, path, log_if_positive=False):
    """One figure of KEY against step, a line per split. Returns False if KEY has no data."""
    by_split = series(records, key)
    if not by_split:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for split in sorted(by_split, key=lambda s: (s != "train", s)):
        steps, values = by_split[split]
        style = "-" if len(steps) > 20 else "o-"
        ax.plot(steps, values, style, label=split, markersize=3)
    finite = [v for _, values in by_split.values() for v in values if math.isfinite(v)]
    if log_if_positive and finite and min(finite) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def numeric_keys(records):
    keys = []
    for record in records:
        for key, value in record.items():
            if key not in NOT_PLOTTED and is_number(value) and key not in keys:
                keys.append(key)
    return keys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", help="RUNDIR/metrics.jsonl, or RUNDIR")
    parser.add_argument("-o", "--out", help="output directory (default: RUNDIR/plots)")
    args = parser.parse_args(argv)
    path = args.metrics
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(path)), "plots")
    try:
        records = read_records(path)
    except MetricsError as err:
        print(f"plot_metrics.py: {err}", file=sys.stderr)
        return 3
    if not records:
        print(f"plot_metrics.py: {path} holds no metrics yet; nothing to plot")
        return 0
    try:
        os.makedirs(out_dir, exist_ok=True)
        written = []
        for key, label, name, log in (("loss", "loss", "loss.png", True),
                                      ("lr", "learning rate", "lr.png", False)):
            if plot(records, key, label, os.path.join(out_dir, name), log):
                written.append(name)
        for key in numeric_keys(records):
            name = "metric-" + re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".png"
            if plot(records, key, key, os.path.join(out_dir, name)):
                written.append(name)
    except OSError as err:
        print(f"plot_metrics.py: cannot write plots to {out_dir}: {err}", file=sys.stderr)
        return 4
    print(f"plot_metrics.py: {len(records)} records -> {out_dir}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
