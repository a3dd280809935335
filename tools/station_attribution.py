#!/usr/bin/python3
"""Which stations matter: attribution of an air-shower model vs the station's distance to the core.

Reads DIR/explain.h5 of `cascade explain` (an input-space method: integrated, lrp, saliency, ...)
run on an air-shower data file, and that file (its `core`, `axis`, `signal`). For every
explained shower and station [r][c] (CONTRACT.md: x = (c - 4 + (r mod 2)/2) * spacing,
y = (r - 4) * spacing * sqrt(3)/2, ground plane z = 0):

  share    the station's |attribution| summed over the input channels, divided by the
           shower's total over all stations and channels (sums to 1 per shower)
  distance to the shower axis through the true core, in the shower plane
           (|d - (d.a) a|, d = station - core, a = axis), or on the ground (--ground: |d|)

and averages the share over the showers in distance bins (--bin metres [500]), separately for
stations with and without signal, and per channel (each channel's |attribution| / the total).
Prints a table (markdown), writes it as JSON (--json) and draws the profile (--plot PNG).

Usage: station_attribution.py EXPLAIN.h5 DATA.h5 [--bin 500] [--max 6000] [--ground]
           [--channels time,signal] [--json OUT.json] [--plot OUT.png] [--title TEXT]
Needs numpy, h5py and (for --plot) matplotlib: Debian python3 packages.
"""
import argparse
import json
import sys

import h5py
import numpy as np

GRID = 9


def station_xy(spacing):
    """(9, 9) ground x, y [m] of the stations (offset grid, odd rows shifted right)."""
    rows, cols = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    return (cols - 4 + (rows % 2) / 2.0) * spacing, (rows - 4) * spacing * np.sqrt(3.0) / 2.0


def distances(core, axis, spacing, ground):
    """(n, 9, 9) distance [m] of every station to the shower axis (or to the core on the ground)."""
    sx, sy = station_xy(spacing)
    d = np.stack([sx[None] - core[:, 0, None, None], sy[None] - core[:, 1, None, None],
                  np.zeros((len(core), GRID, GRID))], axis=-1)
    if ground:
        return np.linalg.norm(d, axis=-1)
    along = np.einsum("nrck,nk->nrc", d, axis)
    return np.linalg.norm(d - along[..., None] * axis[:, None, None, :], axis=-1)


def profile(share, dist, triggered, channel_share, edges):
    """Rows per distance bin: mean share per station (all, with and without signal), per channel."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inb = (dist >= lo) & (dist < hi)
        row = {"from_m": float(lo), "to_m": float(hi), "stations": int(inb.sum())}
        for name, sel in (("all", inb), ("with_signal", inb & triggered), ("without_signal", inb & ~triggered)):
            v = share[sel]
            row[name] = float(v.mean()) if v.size else None
            row[name + "_sem"] = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else None
            row[name + "_n"] = int(v.size)
        row["channels"] = [float(c[inb].mean()) if inb.any() else None for c in channel_share]
        # share of all attribution in the bin, per shower, averaged: where the model's mass sits
        row["bin_total"] = float((share * inb).sum(axis=(1, 2)).mean())
        rows.append(row)
    return rows


def fmt(v, sem=None):
    if v is None:
        return "—"
    return "%.4f" % v if sem is None else "%.4f ± %.4f" % (v, sem)


def table(rows, channels, what):
    head = "| %s [m] | stations | share per station | with signal | without signal | %s | share of the bin |" % (
        what, " | ".join("%s part" % c for c in channels))
    lines = [head, "|" + "---|" * (6 + len(channels))]
    for r in rows:
        if not r["stations"]:
            continue
        lines.append("| %d–%d | %d | %s | %s | %s | %s | %.3f |" % (
            r["from_m"], r["to_m"], r["stations"], fmt(r["all"], r["all_sem"]), fmt(r["with_signal"]),
            fmt(r["without_signal"]), " | ".join(fmt(c) for c in r["channels"]), r["bin_total"]))
    return "\n".join(lines)


def plot(rows, channels, path, title, what):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r["stations"]]
    mid = np.array([(r["from_m"] + r["to_m"]) / 2 for r in rows]) / 1000
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=90)

    def series(key):
        v = np.array([np.nan if r[key] is None else r[key] for r in rows])
        e = np.array([np.nan if r.get(key + "_sem") is None else r[key + "_sem"] for r in rows])
        return v, e
    for key, label, style in (("all", "all stations", "ko-"), ("with_signal", "with signal", "rs--"),
                              ("without_signal", "without signal", "b^:")):
        v, e = series(key)
        ax.errorbar(mid, v, yerr=e, fmt=style, ms=4, capsize=2, label=label)
    for k, c in enumerate(channels):
        v = np.array([np.nan if r["channels"][k] is None else r["channels"][k] for r in rows])
        ax.plot(mid, v, "-", lw=1, alpha=0.6, label="%s channel" % c)
    ax.set_xlabel("station distance to the %s [km]" % what)
    ax.set_ylabel("mean share of |attribution| per station")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("explain")
    p.add_argument("data")
    p.add_argument("--bin", type=float, default=500.0, help="distance bin width [m] [500]")
    p.add_argument("--max", type=float, default=6000.0, help="last bin edge [m] [6000]")
    p.add_argument("--ground", action="store_true", help="distance on the ground, not in the shower plane")
    p.add_argument("--channels", default="time,signal", help="names of the input channels [time,signal]")
    p.add_argument("--json")
    p.add_argument("--plot")
    p.add_argument("--title", default="")
    a = p.parse_args(argv)
    e = h5py.File(a.explain, "r")
    if "attribution" not in e:
        sys.exit("station_attribution: %s has no 'attribution' (method %s); use an input-space method"
                 % (a.explain, e.attrs.get("method")))
    attr = np.abs(e["attribution"][...].astype(np.float64))
    idx = np.asarray(e.attrs["indices"], dtype=np.int64)
    channels = a.channels.split(",")
    if attr.ndim != 4 or attr.shape[2:] != (GRID, GRID) or attr.shape[1] != len(channels):
        sys.exit("station_attribution: %s: attribution has shape %s; expected (n, %d, 9, 9) for --channels %s"
                 % (a.explain, attr.shape, len(channels), a.channels))
    with h5py.File(a.data, "r") as d:
        if d.attrs.get("kind") != "airshower":
            sys.exit("station_attribution: %s is not an air-shower data set (root attr kind)" % a.data)
        spacing = float(d.attrs.get("spacing_m", 1500.0))
        core, axis = d["core"][...][idx].astype(np.float64), d["axis"][...][idx].astype(np.float64)
        triggered = d["signal"][...][idx] > 0
    total = attr.sum(axis=(1, 2, 3))
    keep = total > 0
    attr, core, axis, triggered, total = attr[keep], core[keep], axis[keep], triggered[keep], total[keep]
    share = attr.sum(axis=1) / total[:, None, None]
    channel_share = [attr[:, k] / total[:, None, None] for k in range(len(channels))]
    dist = distances(core, axis, spacing, a.ground)
    edges = np.arange(0, a.max + a.bin / 2, a.bin)
    rows = profile(share, dist, triggered, channel_share, edges)
    what = "core (ground)" if a.ground else "shower axis"
    method = e.attrs.get("method")
    print("station_attribution: %s (%s%s) over %d showers of %s; distance to the %s"
          % (a.explain, method, ", rule " + e.attrs["rule"] if e.attrs.get("rule") else "", len(total), a.data, what))
    print(table(rows, channels, "distance to the " + what))
    near = np.argsort(dist.reshape(len(dist), -1), axis=1)[:, :7]  # the 7 stations nearest the core
    top7 = np.take_along_axis(share.reshape(len(share), -1), near, axis=1).sum(axis=1).mean()
    print("share of |attribution| on the 7 stations nearest the axis: %.3f (a uniform attribution: %.3f)"
          % (top7, 7 / GRID ** 2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"explain": a.explain, "data": a.data, "method": str(method), "showers": int(len(total)),
                       "distance": what, "channels": channels, "nearest7_share": float(top7), "bins": rows}, f,
                      indent=1)
    if a.plot:
        plot(rows, channels, a.plot, a.title or "%s, %d showers" % (method, len(total)), what)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
