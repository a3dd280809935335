"""Pictures of a CaloGAN-layout calorimeter file (`cascade simulate calorimeter`, or real
CaloGAN data with layer_0/1/2 and energy): the three layers' mean shower images and a few single
showers (log colour, drawn in the detector's own cell geometry), the longitudinal profile
(energy per layer against incident energy) and the total deposited energy against the incident
energy. Called by tools/plot_dataset.py as plot(f, outdir, events)."""
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

LAYERS = ("layer_0", "layer_1", "layer_2")
HALF = 240.0  # mm: every layer covers [-240, 240]^2 (CaloGAN geometry)
PARTICLE_NAMES = {0: "e+", 1: "γ", 2: "π+"}
MAX_ROWS = 20000  # enough for means and profiles; keeps big files quick


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _load(f):
    n = min(f["layer_0"].shape[0], MAX_ROWS)
    layers = [np.asarray(f[name][:n], dtype=np.float64) for name in LAYERS]
    energy = np.asarray(f["energy"][:n], dtype=np.float64).reshape(n, -1)[:, 0] if "energy" in f else None
    if "particle_id" in f:
        pid = np.asarray(f["particle_id"][:n])
        groups = [(PARTICLE_NAMES.get(int(k), str(k)), pid == k) for k in np.unique(pid)]
    else:
        groups = [(_text(f.attrs.get("particle", "all")), np.ones(n, dtype=bool))]
    return layers, energy, groups


def _save(fig, outdir, name, dpi):
    fig.tight_layout()
    path = os.path.join(outdir, name + ".png")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _style(ax, xlabel, ylabel, title, log=True, ncol=1):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=ncol)


def _draw_layer(ax, image, norm, cmap="viridis"):
    """One layer image in millimetres: cell (row, col) covers its physical rectangle."""
    masked = np.ma.masked_less_equal(image, 0)
    im = ax.imshow(masked, origin="lower", extent=(-HALF, HALF, -HALF, HALF), norm=norm, cmap=cmap,
                   interpolation="nearest", aspect="equal")
    ax.set_xlabel("x [mm]")
    return im


def _mean_images(layers, groups, outdir):
    fig, axes = plt.subplots(len(groups), 3, figsize=(12, 3.8 * len(groups)), squeeze=False)
    for g, (name, mask) in enumerate(groups):
        for l, data in enumerate(layers):
            mean = data[mask].mean(axis=0)
            positive = mean[mean > 0]
            if positive.size == 0:
                axes[g, l].set_axis_off()
                continue
            norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-5), vmax=positive.max())
            im = _draw_layer(axes[g, l], mean, norm)
            axes[g, l].set_title("%s: mean %s (%dx%d)" % (name, LAYERS[l], data.shape[1], data.shape[2]))
            fig.colorbar(im, ax=axes[g, l], label="MeV", shrink=0.8)
        axes[g, 0].set_ylabel("y [mm]")
    fig.suptitle("Mean shower per layer (log colour)")
    return _save(fig, outdir, "calorimeter_mean_layers", 110)


def _single_showers(layers, energy, groups, events, outdir):
    picks = []
    for name, mask in groups:
        picks += [(name, i) for i in np.flatnonzero(mask)[:max(1, events // len(groups))]]
    picks = picks[:max(events, len(groups))]
    fig, axes = plt.subplots(len(picks), 3, figsize=(12, 3.3 * len(picks)), squeeze=False)
    for r, (name, i) in enumerate(picks):
        top = max(d[i].max() for d in layers)
        if top <= 0:
            for ax in axes[r]:
                ax.set_axis_off()
            continue
        norm = LogNorm(vmin=max(top * 1e-4, 1e-3), vmax=top)  # one scale for the event's three layers
        for l, data in enumerate(layers):
            im = _draw_layer(axes[r, l], data[i], norm, cmap="inferno")
            label = "event %d (%s" % (i, name)
            if energy is not None:
                label += ", %.1f GeV" % energy[i]
            axes[r, l].set_title("%s): %s, %.0f MeV" % (label, LAYERS[l], data[i].sum()), fontsize=9)
        fig.colorbar(im, ax=axes[r, 2], label="MeV", shrink=0.8)
        axes[r, 0].set_ylabel("y [mm]")
    return _save(fig, outdir, "calorimeter_single_showers", 100)


def _binned_means(x, y, bins):
    idx = np.digitize(x, bins) - 1
    centres, means, errors = [], [], []
    for b in range(len(bins) - 1):
        sel = idx == b
        if sel.sum() < 2:
            continue
        centres.append(0.5 * (bins[b] + bins[b + 1]))
        means.append(y[sel].mean())
        errors.append(y[sel].std() / np.sqrt(sel.sum()))
    return np.array(centres), np.array(means), np.array(errors)


def _energy_bins(energy):
    lo, hi = energy.min(), energy.max()
    if hi <= lo:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, 11)


def _longitudinal(layers, energy, groups, outdir):
    per_layer = np.stack([d.sum(axis=(1, 2)) for d in layers], axis=1) / 1e3  # GeV
    total = per_layer.sum(axis=1)
    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = ["-", "--", ":"]
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for g, (name, mask) in enumerate(groups):
        if energy is None:
            break
        bins = _energy_bins(energy[mask])
        for l in range(3):
            c, m, e = _binned_means(energy[mask], per_layer[mask, l], bins)
            ax_e.errorbar(c, m, yerr=e, color=colors[l], ls=styles[g % 3], marker="o", ms=3,
                          label="%s %s" % (name, LAYERS[l]))
            frac = per_layer[mask, l] / np.maximum(total[mask], 1e-12)
            c, m, e = _binned_means(energy[mask], frac, bins)
            ax_f.errorbar(c, m, yerr=e, color=colors[l], ls=styles[g % 3], marker="o", ms=3,
                          label="%s %s" % (name, LAYERS[l]))
    _style(ax_e, "incident energy [GeV]", "mean energy in layer [GeV]", "Longitudinal profile: energy per layer",
           ncol=len(groups))
    _style(ax_f, "incident energy [GeV]", "fraction of the deposited energy", "Layer fractions (front to back)",
           ncol=len(groups))
    return _save(fig, outdir, "calorimeter_longitudinal", 110)


def _total_energy(layers, energy, groups, outdir):
    total = sum(d.sum(axis=(1, 2)) for d in layers) / 1e3  # GeV
    fig, (ax_s, ax_h) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, mask in groups:
        if energy is not None:
            ax_s.scatter(energy[mask], total[mask], s=2, alpha=0.3, label=name)
            c, m, e = _binned_means(energy[mask], total[mask], _energy_bins(energy[mask]))
            ax_s.errorbar(c, m, yerr=e, fmt="o-", ms=4, label="%s mean" % name)
            ratio = total[mask] / np.maximum(energy[mask], 1e-12)
            ax_h.hist(ratio, bins=80, histtype="step", label="%s: mean %.3f, rms %.3f" % (name, ratio.mean(), ratio.std()))
        else:
            ax_h.hist(total[mask], bins=80, histtype="step", label=name)
    if energy is not None:
        top = energy.max()
        ax_s.plot([0, top], [0, top], color="grey", lw=0.8, label="E_dep = E")
    _style(ax_s, "incident energy [GeV]", "deposited energy, all layers [GeV]", "Total deposited vs incident energy",
           log=False)
    _style(ax_h, "deposited / incident energy" if energy is not None else "deposited energy [GeV]", "events",
           "Response")
    return _save(fig, outdir, "calorimeter_total_energy", 110)


def plot(f, outdir, events):
    layers, energy, groups = _load(f)
    paths = [_mean_images(layers, groups, outdir), _single_showers(layers, energy, groups, events, outdir)]
    paths.append(_longitudinal(layers, energy, groups, outdir))
    paths.append(_total_energy(layers, energy, groups, outdir))
    return paths
