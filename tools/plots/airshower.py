"""Pictures of an `airshower` data set (cascade simulate airshower).

footprint_<i>.png  signal (log colour) and arrival time of single showers on the hexagonal
                   grid, in real station coordinates, with the core and the axis projection
lateral.png        signal against distance to the shower axis (log scale): single showers
                   and the whole file (muonic vs EM fall-off)
traces.png         traces of a few stations of one shower (only with --traces)
labels.png         label distributions: logE, zenith (vs sin cos), Xmax per mass, cores
"""
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.patches import RegularPolygon

GRID = 9
MASS_NAMES = {1: "p", 4: "He", 14: "N", 56: "Fe"}


def _attr(f, name, default):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def station_xy(spacing):
    """(9, 9) x, y [m]: station [r][c] at x = (c - 4 + (r mod 2)/2) s, y = (r - 4) s sqrt(3)/2."""
    r, c = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    return (c - 4 + (r % 2) / 2.0) * spacing, (r - 4) * spacing * np.sqrt(3) / 2


def axis_distance(x, y, core, axis):
    """Distance [m] of ground points (x, y) to the shower axis through `core` along `axis`."""
    dx, dy = x - core[0], y - core[1]
    along = dx * axis[0] + dy * axis[1]
    return np.sqrt(np.maximum(dx * dx + dy * dy - along * along, 0.0))


def _hexes(ax, x, y, values, mask, spacing, cmap, norm, label):
    """Hexagonal cells (the stations' Voronoi cells) coloured by value where mask holds."""
    radius = spacing / np.sqrt(3)
    on = [RegularPolygon((xi, yi), 6, radius=radius * 0.97) for xi, yi in zip(x[mask], y[mask])]
    off = [RegularPolygon((xi, yi), 6, radius=radius * 0.97) for xi, yi in zip(x[~mask], y[~mask])]
    ax.add_collection(PatchCollection(off, facecolor="#f2f2f2", edgecolor="#c8c8c8", linewidth=0.5))
    pc = PatchCollection(on, cmap=cmap, norm=norm, edgecolor="k", linewidth=0.5)
    pc.set_array(values[mask])
    ax.add_collection(pc)
    ax.plot(x, y, ".", color="#888888", markersize=2)
    plt.colorbar(pc, ax=ax, shrink=0.8, label=label)


def _footprint(f, i, x, y, spacing, path):
    sig, t = f["signal"][i], f["time"][i]
    core, axis = f["core"][i], f["axis"][i]
    trig = sig > 0
    zen = np.degrees(np.arccos(axis[2]))
    azi = np.degrees(np.arctan2(axis[1], axis[0])) % 360
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    lo = max(sig[trig].min(), 1.0) if trig.any() else 1.0
    hi = max(sig.max(), lo * 10)
    tn = Normalize(t[trig].min(), t[trig].max()) if trig.any() else Normalize(0, 1)
    for ax, vals, cmap, norm, lab in ((axes[0], sig, "viridis", LogNorm(lo, hi), "signal [VEM]"),
                                      (axes[1], t, "coolwarm", tn, "arrival time [ns]")):
        _hexes(ax, x, y, vals, trig, spacing, cmap, norm, lab)
        ax.plot(core[0], core[1], "*", color="red", markersize=14, markeredgecolor="k", label="core")
        # axis projection: from the core towards where the shower comes from, length ~ sin(zenith)
        L = 3 * spacing * np.hypot(axis[0], axis[1])
        ax.annotate("", xy=(core[0] + L * axis[0] / max(np.hypot(axis[0], axis[1]), 1e-9),
                            core[1] + L * axis[1] / max(np.hypot(axis[0], axis[1]), 1e-9)),
                    xytext=(core[0], core[1]), arrowprops=dict(arrowstyle="->", color="red", lw=2))
        ax.set_xlim(x.min() - spacing, x.max() + spacing)
        ax.set_ylim(y.min() - spacing, y.max() + spacing)
        ax.set_aspect("equal")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_title("signal (%d stations triggered)" % trig.sum())
    axes[1].set_title("arrival time (shower from azimuth %.0f°, arrow)" % azi)
    fig.suptitle("event %d: log10(E/eV) = %.2f, zenith %.1f°, Xmax = %.0f g/cm², A = %d (%s), domain %s"
                 % (i, f["logE"][i], zen, f["xmax"][i], f["mass"][i], MASS_NAMES.get(int(f["mass"][i]), "?"),
                    _attr(f, "domain", "?")))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _lateral(f, picks, x, y, path):
    n = min(len(f["signal"]), 3000)
    sig, core, axis = f["signal"][:n], f["core"][:n], f["axis"][:n]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for i in picks:
        r = axis_distance(x, y, core[i], axis[i])
        m = sig[i] > 0
        axes[0].semilogy(r[m], sig[i][m], "o", label="event %d (lgE %.2f, %.0f°)"
                         % (i, f["logE"][i], np.degrees(np.arccos(axis[i][2]))))
    axes[0].axhline(_attr(f, "trigger_vem", 3.0), color="grey", ls=":", label="trigger")
    axes[0].set_xlabel("distance to the shower axis [m]")
    axes[0].set_ylabel("signal [VEM]")
    axes[0].set_title("lateral distribution, single showers")
    axes[0].legend(fontsize=8)
    # whole file, signals scaled to 10^19 eV so that the shape shows
    rs, ss = [], []
    for i in range(n):
        m = sig[i] > 0
        rs.append(axis_distance(x, y, core[i], axis[i])[m])
        ss.append(sig[i][m] / 10 ** (f["logE"][i] - 19))
    rs, ss = np.concatenate(rs), np.concatenate(ss)
    keep = (rs > 50) & (ss > 0)
    h = axes[1].hist2d(rs[keep], np.log10(ss[keep]), bins=(60, 60), cmap="Greys", norm=LogNorm())
    plt.colorbar(h[3], ax=axes[1], label="stations")
    rr = np.linspace(300, 5000, 100)
    s0 = _attr(f, "s1000_vem", 900.0)
    for slope, name, col in ((_attr(f, "ldf_slope_mu", 4.7), "muons", "tab:blue"),
                             (_attr(f, "ldf_slope_em", 6.1), "EM", "tab:orange")):
        axes[1].plot(rr, np.log10(s0 * (rr / 1000) ** -slope), color=col, label="%g VEM (r/1000)^-%g (%s)"
                     % (s0, slope, name))
    axes[1].set_xlabel("distance to the shower axis [m]")
    axes[1].set_ylabel("log10(signal / VEM × 10^(19 − lgE))")
    axes[1].set_title("all showers (%d), scaled to 10^19 eV" % n)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _traces(f, i, x, y, path):
    sig, tr, t = f["signal"][i], f["traces"][i], f["time"][i]
    r = axis_distance(x, y, f["core"][i], f["axis"][i])
    order = [k for k in np.argsort(-sig.ravel()) if sig.ravel()[k] > 0]
    pick = order[:: max(1, len(order) // 4)][:4]
    bin_ns = _attr(f, "trace_bin_ns", 25.0)
    fig, axes = plt.subplots(len(pick), 1, figsize=(9, 2.3 * max(len(pick), 1)), squeeze=False)
    for ax, k in zip(axes[:, 0], pick):
        rc = divmod(k, GRID)
        edges = t[rc] + bin_ns * np.arange(tr.shape[-1] + 1)
        ax.stairs(tr[rc], edges, fill=True, alpha=0.6)
        ax.set_ylabel("VEM / %g ns" % bin_ns)
        ax.set_title("station [%d][%d]: r = %.0f m, signal %.1f VEM, start %.0f ns"
                     % (rc[0], rc[1], r[rc], sig[rc], t[rc]), fontsize=9)
    axes[-1, 0].set_xlabel("time [ns] (relative to the core's plane-front crossing)")
    fig.suptitle("traces, event %d (lgE %.2f)" % (i, f["logE"][i]))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _labels(f, path):
    n = min(len(f["logE"]), 20000)
    lge, axis, xmax, mass, core = f["logE"][:n], f["axis"][:n], f["xmax"][:n], f["mass"][:n], f["core"][:n]
    zen = np.degrees(np.arccos(axis[:, 2]))
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    axes[0].hist(lge, bins=30)
    axes[0].set_xlabel("log10(E/eV)")
    zmax = _attr(f, "zenith_max_deg", 60.0)
    axes[1].hist(zen, bins=30, range=(0, zmax), density=True, label="events")
    th = np.linspace(0, np.radians(zmax), 100)
    axes[1].plot(np.degrees(th), np.sin(2 * th) / np.sin(np.radians(zmax)) ** 2 * np.pi / 180,
                 label="∝ sin θ cos θ")
    axes[1].set_xlabel("zenith [deg]")
    axes[1].legend(fontsize=8)
    for a in sorted(set(mass.tolist())):
        axes[2].hist(xmax[mass == a], bins=40, range=(450, 1100), histtype="step",
                     label=MASS_NAMES.get(int(a), str(a)))
    axes[2].set_xlabel("Xmax [g/cm²]")
    axes[2].legend(fontsize=8)
    axes[3].plot(core[:, 0], core[:, 1], ",", alpha=0.5)
    axes[3].set_aspect("equal")
    axes[3].set_xlabel("core x [m]")
    axes[3].set_ylabel("core y [m]")
    fig.suptitle("labels (%d events)" % n)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot(f, outdir, events):
    spacing = float(_attr(f, "spacing_m", 1500.0))
    x, y = station_xy(spacing)
    n = len(f["logE"])
    ntrig = (f["signal"][: min(n, 200)] > 0).sum(axis=(1, 2))
    picks = [i for i in range(len(ntrig)) if ntrig[i] >= 5][: max(events, 1)] or list(range(min(events, n)))
    written = []
    for i in picks:
        p = os.path.join(outdir, "footprint_%d.png" % i)
        _footprint(f, i, x, y, spacing, p)
        written.append(p)
    p = os.path.join(outdir, "lateral.png")
    _lateral(f, picks[:4], x, y, p)
    written.append(p)
    if "traces" in f:
        p = os.path.join(outdir, "traces.png")
        _traces(f, picks[0], x, y, p)
        written.append(p)
    p = os.path.join(outdir, "labels.png")
    _labels(f, p)
    written.append(p)
    return written
