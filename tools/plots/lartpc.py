"""LArTPC neutrino events (`cascade simulate lartpc`): event displays next to their pixel
labels for each class, and a summary of the sample (energies, label content, charge)."""
import os

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap, BoundaryNorm
from matplotlib.patches import Patch

CLASSES = ["νμ CC", "νe CC", "NC (π0)"]
FILE_TAGS = ["numu_cc", "nue_cc", "nc"]
LABEL_NAMES = ["empty", "track", "shower"]
LABEL_COLOURS = ["#101018", "#33a2ff", "#ff7f0e"]


def _attr(f, name, default=None):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def _event_displays(f, outdir, cls, indices, pixel_cm):
    """One PNG per class: charge (sqrt scale) above the pixel labels, one column per event."""
    k = len(indices)
    fig, axes = plt.subplots(2, k, figsize=(3.4 * k + 0.8, 6.6), squeeze=False, constrained_layout=True)
    extent = [0, 64 * pixel_cm, 0, 64 * pixel_cm]
    label_cmap = ListedColormap(LABEL_COLOURS)
    label_norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)
    for j, i in enumerate(indices):
        q = f["charge"][i]
        lab = f["pixel_label"][i]
        energy = float(f["energy"][i])
        # charge[wire][time]: wire on x (beam left to right), drift time on y
        im = axes[0, j].imshow(np.sqrt(np.clip(q, 0, None)).T, origin="lower", cmap="viridis",
                               extent=extent, interpolation="nearest")
        axes[0, j].set_title("#%d  %s  E$_\\nu$ = %.2f GeV" % (i, CLASSES[cls], energy), fontsize=9)
        axes[1, j].imshow(lab.T, origin="lower", cmap=label_cmap, norm=label_norm, extent=extent,
                          interpolation="nearest")
        n_track, n_shower = int((lab == 1).sum()), int((lab == 2).sum())
        axes[1, j].set_title("labels: %d track, %d shower px" % (n_track, n_shower), fontsize=9)
        for row in range(2):
            axes[row, j].set_xlabel("wire [cm]")
        axes[0, j].set_ylabel("drift (time) [cm]")
        axes[1, j].set_ylabel("drift (time) [cm]")
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.85, label="√charge [√MIP]")
    axes[1, -1].legend(handles=[Patch(color=c, label=n) for c, n in zip(LABEL_COLOURS, LABEL_NAMES)],
                       loc="upper right", fontsize=7, framealpha=0.8)
    fig.suptitle("LArTPC %s events: charge (top) and pixel labels (bottom)" % CLASSES[cls])
    path = os.path.join(outdir, "lartpc_events_%s.png" % FILE_TAGS[cls])
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _summary(f, outdir, n):
    classes = f["event_label"][:n]
    energy = f["energy"][:n]
    labels = f["pixel_label"][:n]
    charge = f["charge"][:n]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    bins = np.linspace(float(energy.min()), float(energy.max()) + 1e-6, 25)
    for c in range(3):
        axes[0].hist(energy[classes == c], bins=bins, histtype="step", lw=1.5,
                     label="%s (%d)" % (CLASSES[c], int((classes == c).sum())))
    axes[0].set_xlabel("neutrino energy [GeV]")
    axes[0].set_ylabel("events")
    axes[0].legend(fontsize=8)
    axes[0].set_title("classes and energies")
    width = 0.38
    for lab, off in ((1, -width / 2), (2, width / 2)):
        means = [(labels[classes == c] == lab).sum(axis=(1, 2)).mean() if (classes == c).any() else 0
                 for c in range(3)]
        axes[1].bar(np.arange(3) + off, means, width, color=LABEL_COLOURS[lab], label=LABEL_NAMES[lab])
    axes[1].set_xticks(range(3))
    axes[1].set_xticklabels(CLASSES)
    axes[1].set_ylabel("pixels per event")
    axes[1].legend(fontsize=8)
    axes[1].set_title("pixel labels per class")
    hb = np.linspace(-0.5, 8, 120)
    for lab in range(3):
        axes[2].hist(charge[labels == lab].ravel(), bins=hb, histtype="step", lw=1.5,
                     color=LABEL_COLOURS[lab] if lab else "gray", label=LABEL_NAMES[lab])
    axes[2].set_yscale("log")
    axes[2].set_xlabel("pixel charge [MIP]")
    axes[2].set_ylabel("pixels")
    axes[2].legend(fontsize=8)
    axes[2].set_title("charge by pixel label (noise: empty)")
    fig.suptitle("LArTPC sample: %d events" % n)
    path = os.path.join(outdir, "lartpc_summary.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot(f, outdir, events):
    pixel_cm = float(_attr(f, "pixel_cm", 1.0))
    n = min(len(f["event_label"]), 5000)
    classes = f["event_label"][:n]
    k = max(1, min(int(events), 6))
    written = []
    for c in range(3):
        indices = np.flatnonzero(classes == c)[:k]
        if len(indices):
            written.append(_event_displays(f, outdir, c, indices.tolist(), pixel_cm))
    written.append(_summary(f, outdir, n))
    return written
