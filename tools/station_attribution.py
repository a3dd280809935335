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
           [--compare LABEL=EXPLAIN.h5 ...]   (all-station profiles of other methods, second panel)
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


def plot(rows, channels, path, title, what, others=()):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if r["stations"]]
    mid = np.array([(r["from_m"] + r["to_m"]) / 2 for r in rows]) / 1000
    fig, axes = plt.subplots(1, 2 if others else 1, figsize=(9.4 if others else 5.2, 3.4), dpi=80, squeeze=False)
    ax = axes[0][0]

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
    if others:
        ax2 = axes[0][1]
        for label, other in [(title.split(",")[0], rows)] + list(others):
            other = [r for r in other if r["stations"]]
            ax2.plot([(r["from_m"] + r["to_m"]) / 2000 for r in other], [r["all"] for r in other], "o-", ms=3,
                     label=label)
        ax2.set_title("all stations, by method", fontsize=9)
    for a in [ax] + ([axes[0][1]] if others else []):
        a.set_xlabel("station distance to the %s [km]" % what)
        a.set_ylabel("mean share of |attribution| per station")
        a.set_yscale("log")
        a.legend(fontsize=7)
        a.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
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
    p.add_argument("--compare", nargs="*", default=[], metavar="LABEL=EXPLAIN.h5",
                   help="other explain.h5 of the same showers: their all-station profile in a second panel")
    a = p.parse_args(argv)
    channels = a.channels.split(",")
    e, rows, what, n = analyse(a.explain, a, channels)
    others = []
    for item in a.compare:
        label, _, path = item.partition("=")
        if not path:
            sys.exit("station_attribution: --compare %r is not LABEL=EXPLAIN.h5" % item)
        others.append((label, analyse(path, a, channels)[1]))
    method = e.attrs.get("method")
    print("station_attribution: %s (%s%s) over %d showers of %s; distance to the %s"
          % (a.explain, method, ", rule " + e.attrs["rule"] if e.attrs.get("rule") else "", n, a.data, what))
    print(table(rows, channels, "distance to the " + what))
    print("share of |attribution| on the 7 stations nearest the axis: %.3f (a uniform attribution: %.3f)"
          % (e.nearest7, 7 / GRID ** 2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"explain": a.explain, "data": a.data, "method": str(method), "showers": n,
                       "distance": what, "channels": channels, "nearest7_share": e.nearest7, "bins": rows}, f,
                      indent=1)
    if a.plot:
        plot(rows, channels, a.plot, a.title or "%s, %d showers" % (method, n), what, others)
    return 0


class Explained:
    """The attrs of an explain.h5 and the 7-nearest share computed from it."""

    def __init__(self, attrs, nearest7):
        self.attrs, self.nearest7 = attrs, nearest7


def analyse(path, a, channels):
    """(Explained, profile rows, distance name, showers) of one explain.h5 against a.data."""
    e = h5py.File(path, "r")
    if "attribution" not in e:
        sys.exit("station_attribution: %s has no 'attribution' (method %s); use an input-space method"
                 % (path, e.attrs.get("method")))
    attr = np.abs(e["attribution"][...].astype(np.float64))
    idx = np.asarray(e.attrs["indices"], dtype=np.int64)
    if attr.ndim != 4 or attr.shape[2:] != (GRID, GRID) or attr.shape[1] != len(channels):
        sys.exit("station_attribution: %s: attribution has shape %s; expected (n, %d, 9, 9) for --channels %s"
                 % (path, attr.shape, len(channels), a.channels))
    attrs = dict(e.attrs)
    e.close()
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
    near = np.argsort(dist.reshape(len(dist), -1), axis=1)[:, :7]  # the 7 stations nearest the axis
    top7 = float(np.take_along_axis(share.reshape(len(share), -1), near, axis=1).sum(axis=1).mean())
    return Explained(attrs, top7), rows, "core (ground)" if a.ground else "shower axis", int(len(total))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
