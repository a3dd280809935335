#!/usr/bin/env python3
"""Summarises a `cascade train --timeline` trace: per rank, the seconds in each event category
and the overlap of the gradient reduction with computation.

  tools/timeline_summary.py trace.json [--json]

Overlap (fast mode): the buckets' reductions run from their start (backward has finished their
layers) until their sums were seen complete; the part of that time the step did not spend
waiting for them ran behind backward. overlap = 1 - wait / (union of the bucket intervals),
between 0 (every reduction waited for) and 1 (fully hidden). Deterministic mode reduce-scatters
blocking (its buckets are all wait), so its overlap is 0 by construction.
"""
import argparse
import json
import sys


def union_length(intervals):
    """Total length covered by [start, end) intervals."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def summarise(events):
    ranks = {}
    for e in events:
        if e.get("ph") != "X":
            continue
        r = ranks.setdefault(e["pid"], {"seconds": {}, "buckets": [], "steps": 0})
        cat = e.get("cat", "")
        r["seconds"][cat] = r["seconds"].get(cat, 0.0) + e["dur"] * 1e-6
        if cat in ("allreduce", "reduce-scatter"):
            r["buckets"].append((e["ts"] * 1e-6, (e["ts"] + e["dur"]) * 1e-6))
        if cat == "step":
            r["steps"] += 1
    out = []
    for pid in sorted(ranks):
        r = ranks[pid]
        comm = union_length(r["buckets"])
        wait = r["seconds"].get("wait", 0.0)
        overlap = max(0.0, min(1.0, 1.0 - wait / comm)) if comm > 0 else None
        out.append({"rank": pid, "steps": r["steps"], "reduction_s": comm, "wait_s": wait, "overlap": overlap,
                    "seconds": {k: round(v, 6) for k, v in sorted(r["seconds"].items())}})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--json", action="store_true", help="one JSON object per rank")
    a = ap.parse_args()
    try:
        with open(a.trace) as f:
            events = json.load(f)["traceEvents"]
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"timeline_summary: {a.trace}: not a cascade timeline ({err})")
    rows = summarise(events)
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    for r in rows:
        ov = "n/a" if r["overlap"] is None else f"{100 * r['overlap']:.0f}%"
        top = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["seconds"].items(), key=lambda kv: -kv[1])[:6])
        print(f"rank {r['rank']}: {r['steps']} steps; reduction {r['reduction_s']:.3f} s, waited {r['wait_s']:.3f} s, "
              f"overlap {ov}; seconds by category: {top}")


if __name__ == "__main__":
    main()
