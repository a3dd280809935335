"""Pictures of a `cascade simulate skymap` file (UHECR sky maps, 500 cosmic rays each).

skymap_maps.png      Mollweide maps (right ascension, declination of the unit vectors) of
                     isotropic (label 0) and source (label 1) maps, coloured by log10 E;
                     cosmic rays from a source ringed in red, the sources as red stars
skymap_spectrum.png  energy spectrum dN/dE with the generated power law, and N(>E)
skymap_physics.png   pairs within an angle (label 0 and 1 against isotropy), the declination
                     distribution (exposure), and the deflection of source rays against energy
"""
import os

import numpy as np
import matplotlib.pyplot as plt

MAX_MAPS = 1000  # maps read for the statistics


def _attr(f, name, default):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def _lonlat(v):
    return np.arctan2(v[..., 1], v[..., 0]), np.arcsin(np.clip(v[..., 2], -1, 1))


def _maps_figure(f, path, per_label):
    label = f["label"][: min(len(f["label"]), MAX_MAPS)]
    picks = [(lab, int(i)) for lab in (0, 1) for i in np.flatnonzero(label == lab)[:per_label]]
    if not picks:
        return None
    ncol = max(sum(1 for lab, _ in picks if lab == 0), sum(1 for lab, _ in picks if lab == 1))
    fig = plt.figure(figsize=(6.5 * ncol, 7.2))
    has_sources = "sources" in f and "from_source" in f
    loge_all = np.concatenate([f["events"][i][:, 3] for _, i in picks])
    vmin, vmax = np.log10(float(_attr(f, "emin_eev", 40))) + 18, float(np.percentile(loge_all, 99.5))
    scatter = None
    for row, lab in enumerate((0, 1)):
        for col, (_, i) in enumerate([p for p in picks if p[0] == lab]):
            ax = fig.add_subplot(2, ncol, row * ncol + col + 1, projection="mollweide")
            ev = f["events"][i]
            lon, lat = _lonlat(ev[:, :3])
            order = np.argsort(ev[:, 3])  # high energies on top
            scatter = ax.scatter(lon[order], lat[order], c=ev[order, 3], s=6 + 60 * (ev[order, 3] - vmin) / (vmax - vmin + 1e-9),
                                 cmap="viridis", vmin=vmin, vmax=vmax, linewidths=0, zorder=2)
            title = "map %d: label 0 (isotropic)" % i
            if has_sources and lab == 1:
                src = f["from_source"][i].astype(bool)
                ax.scatter(lon[src], lat[src], s=40, facecolors="none", edgecolors="red", linewidths=0.8, zorder=3,
                           label="from a source (%d)" % src.sum())
                sl, sb = _lonlat(f["sources"][i])
                ax.scatter(sl, sb, marker="*", s=220, c="red", edgecolors="black", linewidths=0.6, zorder=4,
                           label="sources (%d)" % len(sl))
                ax.legend(loc="lower right", fontsize=7, framealpha=0.8)
                title = "map %d: label 1, %d of 500 from sources" % (i, src.sum())
            elif lab == 1:
                title = "map %d: label 1 (sources)" % i
            ax.set_title(title, fontsize=10, pad=14)
            ax.grid(True, alpha=0.4)
            ax.tick_params(labelsize=7)
    fig.subplots_adjust(left=0.03, right=0.88, top=0.92, bottom=0.05, hspace=0.25, wspace=0.08)
    cax = fig.add_axes([0.9, 0.2, 0.015, 0.6])
    fig.colorbar(scatter, cax=cax, label="log10(E / eV)")
    exposure = _attr(f, "exposure", "none")
    fig.suptitle("UHECR sky maps (equatorial: right ascension, declination; exposure %s)" % exposure)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _spectrum_figure(f, path):
    n = min(len(f["label"]), MAX_MAPS)
    loge = f["events"][:n, :, 3].ravel().astype(np.float64)
    e = 10 ** (loge - 18)  # EeV
    emin, emax = float(_attr(f, "emin_eev", e.min())), float(_attr(f, "emax_eev", e.max()))
    gamma = float(_attr(f, "spectral_index", np.nan))
    edges = np.logspace(np.log10(emin), np.log10(min(emax, e.max() * 1.01)), 31)
    counts, _ = np.histogram(e, edges)
    width, centre = np.diff(edges), np.sqrt(edges[1:] * edges[:-1])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.3))
    ok = counts > 0
    a1.errorbar(centre[ok], counts[ok] / width[ok], yerr=np.sqrt(counts[ok]) / width[ok], fmt="o", ms=3,
                label="%d cosmic rays (%d maps)" % (len(e), n))
    if np.isfinite(gamma):
        # expected dN/dE of the truncated power law, normalised to the sample
        norm = len(e) * (gamma - 1) / emin / (1 - (emin / emax) ** (gamma - 1))
        x = np.logspace(np.log10(edges[0]), np.log10(edges[-1]), 100)
        a1.plot(x, norm * (x / emin) ** -gamma, "r-", label="E^-%.2f (generated)" % gamma)
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("E [EeV]")
    a1.set_ylabel("dN/dE [1/EeV]")
    a1.set_title("energy spectrum")
    a1.legend(fontsize=8)
    es = np.sort(e)
    above = len(es) - np.arange(len(es))
    a2.loglog(es, above, "-", lw=1.5, label="N(>E)")
    if np.isfinite(gamma):
        a2.loglog(es, len(es) * (es / emin) ** (1 - gamma), "r--", lw=1, label="E^-%.2f" % (gamma - 1))
    a2.set_xlabel("E [EeV]")
    a2.set_ylabel("N(>E)")
    a2.set_title("integral spectrum")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _physics_figure(f, path):
    n = min(len(f["label"]), MAX_MAPS)
    label = f["label"][:n]
    events = f["events"][:n]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    # 1) mean number of pairs within psi per map, over the isotropic expectation
    psi = np.linspace(1, 30, 30)
    cos_psi = np.cos(np.radians(psi))
    iso = 500 * 499 / 2 * (1 - cos_psi) / 2
    upper = np.triu_indices(500, 1)
    for lab, colour in ((0, "tab:blue"), (1, "tab:red")):
        idx = np.flatnonzero(label == lab)[:100]
        if len(idx) == 0:
            continue
        per_map = []
        for i in idx:
            v = events[i, :, :3].astype(np.float64)
            d = (v @ v.T)[upper]
            # pairs with cos between consecutive cos_psi (descending), summed from the top
            ring, _ = np.histogram(d[d > cos_psi[-1]], bins=np.append(cos_psi[::-1], 1.0 + 1e-9))
            per_map.append(np.cumsum(ring[::-1]))
        per_map = np.array(per_map, dtype=np.float64)
        mean, se = per_map.mean(axis=0), per_map.std(axis=0) / np.sqrt(len(idx))
        axes[0].errorbar(psi, mean / iso, yerr=se / iso, fmt="o-", ms=3, color=colour,
                         label="label %d (%d maps)" % (lab, len(idx)))
    axes[0].axhline(1, color="k", lw=0.8, ls="--", label="isotropic expectation")
    axes[0].set_xlabel("angular separation psi [deg]")
    axes[0].set_ylabel("pairs within psi / isotropic expectation")
    axes[0].set_title("clustering (mean per map)")
    axes[0].legend(fontsize=8)
    if _attr(f, "exposure", "none") != "none":
        axes[0].text(0.02, 0.02, "exposure non-uniform: label 0 also above 1", transform=axes[0].transAxes, fontsize=8)
    # 2) declination distribution of the label-0 maps
    z = events[label == 0, :, 2].ravel()
    if len(z) == 0:
        z = events[..., 2].ravel()
    axes[1].hist(z, bins=40, range=(-1, 1), histtype="step", lw=1.5, density=True,
                 label="exposure %s" % _attr(f, "exposure", "none"))
    axes[1].axhline(0.5, color="k", ls="--", lw=0.8, label="isotropic, uniform exposure")
    axes[1].set_xlabel("sin(declination)")
    axes[1].set_ylabel("density")
    axes[1].set_title("declination of label-0 cosmic rays")
    axes[1].legend(fontsize=8)
    # 3) deflection: angle of each source ray to its nearest source, against energy
    ax = axes[2]
    if "sources" in f and "from_source" in f and np.any(label == 1):
        srcs = f["sources"][:n]
        fs = f["from_source"][:n].astype(bool)
        ang, en = [], []
        for i in np.flatnonzero(label == 1):
            v = events[i][fs[i]]
            if len(v) == 0:
                continue
            cosines = np.clip(v[:, :3].astype(np.float64) @ srcs[i].astype(np.float64).T, -1, 1)
            ang.append(np.degrees(np.arccos(cosines.max(axis=1))))
            en.append(10 ** (v[:, 3] - 18))
        if ang:
            ang, en = np.concatenate(ang), np.concatenate(en)
            ax.scatter(en, ang, s=2, alpha=0.15, label="source rays")
            edges = np.logspace(np.log10(en.min()), np.log10(en.max()), 16)
            which = np.digitize(en, edges) - 1
            for b in range(len(edges) - 1):
                sel = ang[which == b]
                if len(sel) >= 5:
                    ax.errorbar(np.sqrt(edges[b] * edges[b + 1]), sel.mean(), yerr=sel.std() / np.sqrt(len(sel)),
                                fmt="ko", ms=4, label="mean angle" if b == 0 else None)
            d, eref = float(_attr(f, "deflection_deg", np.nan)), float(_attr(f, "deflection_ref_eev", 40))
            x = np.logspace(np.log10(en.min()), np.log10(en.max()), 50)
            ax.plot(x, d * eref / x * np.sqrt(np.pi / 2), "r-", label="mean angle sigma sqrt(pi/2), sigma = %.3g deg (%.0f EeV / E)" % (d, eref))
            ax.set_xscale("log")
            ax.legend(fontsize=8)
    ax.set_xlabel("E [EeV]")
    ax.set_ylabel("angle to the nearest source [deg]")
    ax.set_title("deflection shrinks with energy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(f, outdir, events):
    per_label = max(1, min(3, events // 2))
    written = []
    for p in (_maps_figure(f, os.path.join(outdir, "skymap_maps.png"), per_label),
              _spectrum_figure(f, os.path.join(outdir, "skymap_spectrum.png")),
              _physics_figure(f, os.path.join(outdir, "skymap_physics.png"))):
        if p:
            written.append(p)
    return written
