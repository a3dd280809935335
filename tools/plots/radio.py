"""Pictures of a `cascade simulate radio` file: noisy vs clean traces at different SNR, the
SNR distribution (and SNR vs energy), and the power spectra of pulse and noise."""
import os

import matplotlib.pyplot as plt
import numpy as np

MAX_EVENTS = 20000  # events read for the distributions


def _attr(f, name, default):
    v = f.attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else v


def _pick_by_snr(snr, has_signal, k):
    """Signal events whose SNR is closest to k targets spread log-uniformly over 0.5-50."""
    idx = np.flatnonzero(has_signal)
    if idx.size == 0:
        return []
    targets = np.geomspace(0.5, 50, k) if k > 1 else [5.0]
    chosen = []
    for t in targets:
        i = idx[np.argmin(np.abs(np.log(np.maximum(snr[idx], 1e-9)) - np.log(t)))]
        if i not in chosen:
            chosen.append(int(i))
    return chosen


def _traces(f, outdir, events, snr, has_signal, dt):
    chosen = _pick_by_snr(snr, has_signal, max(events, 1))
    noise_only = np.flatnonzero(has_signal == 0)
    if noise_only.size:
        chosen.append(int(noise_only[0]))
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.1 * len(chosen) + 0.6), sharex=True, squeeze=False)
    for ax, i in zip(axes[:, 0], chosen):
        noisy, clean = f["noisy"][i], f["clean"][i]
        t = np.arange(noisy.size) * dt
        ax.plot(t, noisy, color="0.55", lw=0.8, label="noisy")
        ax.plot(t, clean, color="C3", lw=1.2, label="clean")
        if has_signal[i]:
            title = "event %d: SNR %.2f, E = %.3g EeV" % (i, snr[i], f["energy"][i])
        else:
            title = "event %d: noise only" % i
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("amplitude [µV]")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time [ns]")
    fig.suptitle("radio traces, 30-80 MHz: noisy (pulse + Galactic/thermal noise) and clean pulse")
    fig.tight_layout()
    path = os.path.join(outdir, "radio_traces.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _snr(outdir, snr, energy, has_signal):
    sig = has_signal == 1
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    s = snr[sig]
    if s.size:
        bins = np.geomspace(max(s.min(), 1e-3), s.max() * 1.01, 50)
        a.hist(s, bins=bins, color="C0")
        a.set_xscale("log")
        for q in (0.1, 0.5, 0.9):
            a.axvline(np.quantile(s, q), color="k", ls=":", lw=1)
        a.axvline(1, color="C3", lw=1, label="SNR 1")
        a.axvline(10, color="C2", lw=1, label="SNR 10")
        a.legend(fontsize=8)
        b.scatter(energy[sig], s, s=2, alpha=0.3)
        b.set_xscale("log")
        b.set_yscale("log")
        e = np.geomspace(energy[sig].min(), energy[sig].max(), 10)
        b.plot(e, np.median(s) * e / np.median(energy[sig]), "k--", lw=1, label="∝ E (slope 1)")
        b.legend(fontsize=8)
    a.set_xlabel("SNR (Hilbert-envelope peak / noise RMS)")
    a.set_ylabel("events")
    a.set_title("SNR distribution (dotted: 10/50/90 %%), %d of %d with a pulse" % (sig.sum(), sig.size), fontsize=9)
    b.set_xlabel("energy [EeV]")
    b.set_ylabel("SNR")
    b.set_title("SNR vs energy (spread: geometry)", fontsize=9)
    fig.tight_layout()
    path = os.path.join(outdir, "radio_snr.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _spectra(f, outdir, n, has_signal, dt, lo, hi):
    index = float(_attr(f, "galactic_index", -2.5))
    thermal = float(_attr(f, "thermal_ratio_50MHz", 0.1))
    m = min(n, 2000)
    noisy, clean = f["noisy"][:m].astype(np.float64), f["clean"][:m].astype(np.float64)
    sig = has_signal[:m] == 1
    freq = np.fft.rfftfreq(noisy.shape[1], dt * 1e-9) / 1e6
    noise_power = np.mean(np.abs(np.fft.rfft(noisy - clean, axis=1)) ** 2, axis=0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.semilogy(freq, noise_power, color="0.4", label="noise (noisy − clean), mean of %d" % m)
    if sig.any():
        pulse = np.abs(np.fft.rfft(clean[sig], axis=1)) ** 2
        ax.semilogy(freq, np.median(pulse, axis=0), color="C3", label="pulse, median of %d" % sig.sum())
        ax.semilogy(freq, pulse[0], color="C1", lw=0.8, alpha=0.8, label="one pulse")
    band = (freq > lo) & (freq < hi)
    model = (freq[band] / 50.0) ** index + thermal
    at50 = np.argmin(np.abs(freq - 50.0))
    ax.semilogy(freq[band], model * noise_power[at50] / ((freq[at50] / 50.0) ** index + thermal), "k--", lw=1,
                label="noise model (ν/50 MHz)^%g + %g (before the band edges)" % (index, thermal))
    ax.axvspan(lo, hi, color="C2", alpha=0.08, label="%g-%g MHz band" % (lo, hi))
    top = max(noise_power.max(), np.median(pulse, axis=0).max() if sig.any() else 0)
    ax.set_ylim(top * 1e-4, top * 30)
    ax.set_xlim(0, 120)
    ax.set_xlabel("frequency [MHz]")
    ax.set_ylabel("power |X(f)|² [µV²]")
    ax.set_title("power spectra: Galactic (ν^-2.5) + thermal noise, band-limited pulse", fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    path = os.path.join(outdir, "radio_spectra.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(f, outdir, events):
    n = min(f["snr"].shape[0], MAX_EVENTS)
    snr = f["snr"][:n]
    energy = f["energy"][:n]
    has_signal = f["has_signal"][:n] if "has_signal" in f else (snr > 0).astype(np.int32)
    dt = float(_attr(f, "sample_ns", 1.0))
    lo, hi = float(_attr(f, "band_lo_MHz", 30.0)), float(_attr(f, "band_hi_MHz", 80.0))
    return [
        _traces(f, outdir, events, snr, has_signal, dt),
        _snr(outdir, snr, energy, has_signal),
        _spectra(f, outdir, n, has_signal, dt, lo, hi),
    ]
