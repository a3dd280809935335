#!/usr/bin/python3
"""Plots the metrics.jsonl of one or several cascade runs as PNG files.

Usage: plot_metrics.py RUN [RUN...] [-o OUTDIR]   RUN: RUNDIR or RUNDIR/metrics.jsonl
                                                  (default OUTDIR: the first RUNDIR/plots)

metrics.jsonl holds one JSON object a line: step, epoch, split ("train"/"valid"), loss, lr,
samples_per_s, time_s and the task's metrics. Several runs are overlaid: a colour per run
(named by its directory), a line style per split (train solid, valid dashed). Writes into OUTDIR:
  summary.png         one page of panels: loss, learning rate, samples/s and the task's metrics
  loss.png            loss against step, one line per run and split (log scale when all positive)
  lr.png              learning rate against step
  metric-KEY.png      every other numeric key against step
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


SPLIT_STYLE = {"train": "-", "valid": "--"}


def draw(ax, runs, key, ylabel, log_if_positive=False):
    """KEY against step on ax: a colour per run, a line style per split. False if no data."""
    finite, drawn = [], False
    for index, (name, records) in enumerate(runs):
        by_split = series(records, key)
        for split in sorted(by_split, key=lambda s: (s != "train", s)):
            steps, values = by_split[split]
            style = SPLIT_STYLE.get(split, ":") + ("" if len(steps) > 20 else "o")
            label = split if len(runs) == 1 else f"{name} {split}"
            ax.plot(steps, values, style, color=f"C{index % 10}", label=label, markersize=3)
            finite += [v for v in values if math.isfinite(v)]
            drawn = True
    if not drawn:
        return False
    if log_if_positive and finite and min(finite) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return True


def plot(runs, key, ylabel, path, log_if_positive=False):
    """One figure of KEY against step. Returns False if KEY has no data."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    drawn = draw(ax, runs, key, ylabel, log_if_positive)
    if drawn:
        fig.tight_layout()
        fig.savefig(path)
    plt.close(fig)
    return drawn


def plot_page(runs, panels, path):
    """All panels (key, label, log) on one page, three columns."""
    panels = [p for p in panels if any(series(r, p[0]) for _, r in runs)]
    if not panels:
        return False
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.0 * cols, 3.4 * rows), dpi=100, squeeze=False)
    for ax, (key, label, log) in zip(axes.flat, panels):
        draw(ax, runs, key, label, log)
        ax.set_title(label, fontsize="medium")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(", ".join(name for name, _ in runs))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def numeric_keys(runs):
    keys = []
    for _, records in runs:
        for record in records:
            for key, value in record.items():
                if key not in NOT_PLOTTED and is_number(value) and key not in keys:
                    keys.append(key)
    return keys


def in_summary(key):
    """The page leaves out the step-time split (*_s but samples/s) and checkpoint timings."""
    return key == "samples_per_s" or not (key.endswith("_s") or key in ("seconds", "mb"))


def run_name(path, taken):
    """The run directory's name (its path when two runs share a name)."""
    run_dir = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(run_dir) or run_dir
    return run_dir if name in taken else name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", nargs="+", help="RUNDIR/metrics.jsonl, or RUNDIR; several: overlaid")
    parser.add_argument("-o", "--out", help="output directory (default: the first RUNDIR/plots)")
    args = parser.parse_args(argv)
    paths = [os.path.join(p, "metrics.jsonl") if os.path.isdir(p) else p for p in args.metrics]
    out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(paths[0])), "plots")
    runs, names = [], set()
    for path in paths:
        try:
            records = read_records(path)
        except MetricsError as err:
            print(f"plot_metrics.py: {err}", file=sys.stderr)
            return 3
        if not records:
            print(f"plot_metrics.py: {path} holds no metrics yet")
            continue
        name = run_name(path, names)
        names.add(name)
        runs.append((name, records))
    if not runs:
        print("plot_metrics.py: no metrics yet; nothing to plot")
        return 0
    panels = [("loss", "loss", True), ("lr", "learning rate", False)]
    panels += [(key, key, False) for key in numeric_keys(runs)]
    try:
        os.makedirs(out_dir, exist_ok=True)
        written = []
        for key, label, log in panels:
            name = {"loss": "loss.png", "lr": "lr.png"}.get(key) or \
                "metric-" + re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".png"
            if plot(runs, key, label, os.path.join(out_dir, name), log):
                written.append(name)
        if plot_page(runs, [p for p in panels if in_summary(p[0])], os.path.join(out_dir, "summary.png")):
            written.append("summary.png")
    except OSError as err:
        print(f"plot_metrics.py: cannot write plots to {out_dir}: {err}", file=sys.stderr)
        return 4
    total = sum(len(r) for _, r in runs)
    print(f"plot_metrics.py: {len(runs)} run(s), {total} records -> {out_dir}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
