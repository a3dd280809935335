#!/usr/bin/python3
"""Physics figures of the radio jobs (jobs/radio-detect.ini, jobs/radio-denoise.ini) from
`cascade predict` outputs and the `cascade simulate radio` files they were made from.

    tools/radio_analysis.py --test TEST.h5 [--detect PRED.h5] [--denoise PRED.h5]
                            --calib CALIB.h5 [--calib-detect PRED.h5] [--calib-denoise PRED.h5]
                            [--fpr 0.002] [--window 64] [--json OUT.json] [-o PLOTDIR]

Detection (output = logit of has_signal): the score threshold is fixed on the noise-only
events of the CALIBRATION file at the false-positive rate --fpr; on TEST it gives the measured
false-positive rate (noise-only events above it) and the signal efficiency, overall for SNR > 3
and in SNR bins, with binomial (Clopper-Pearson 68 %) intervals; plus the ROC AUC.

--baseline adds the same figures for a classical detector that needs no training: a whitened
matched filter (noise power spectrum measured on the calibration file's noise-only traces,
templates = the simulator's 30-80 MHz band response times exp(-s (f - 55 MHz)) for
s = 0 ... 0.03/MHz, complex so that any pulse phase matches, maximum over the arrival times
100-411 ns): close to the best a detector can do on these traces, the reference for the CNN.

Denoising (output = the clean trace): per signal event
- pulse power P = sum of the squared trace in a window of +-W ns (default 64) around the peak
  of its Hilbert envelope: P_den from the denoised, P_noisy from the noisy, P_clean from the
  clean trace (each with its own peak);
- pulse-energy (fluence) resolution: sqrt(P_den / P_clean) - 1, the amplitude-scale error of
  the reconstructed pulse against the true one;
- the same with the denoiser only locating the pulse: the noisy trace's power in the window
  around the denoised peak minus the expected noise power there ((2W+1) x noise_rms_uV^2,
  the file's noise level), an unbiased power estimate (P_sub, "located");
- primary energy: log10 E = a + b log10 P, fitted on the calibration file's signal events with
  SNR > 3 (separately for the denoised, noisy and clean traces), applied to TEST: resolution
  (standard deviation and 68 % half-width of E_rec/E - 1) and bias (median), per SNR bin. The
  clean-trace estimate shows the floor set by the antenna geometry (the simulator's amplitude
  spread at fixed energy, datasets/README.md);
- SNR gain: RMS(noisy - clean) / RMS(denoised - clean) over the whole trace, and the residual
  RMS(denoised - clean) and its ratio to the peak amplitude, against SNR.
Needs numpy, h5py, matplotlib only (Debian python3 packages).
"""
import argparse
import json
import math
import os
import sys

import h5py
import numpy as np

SNR_EDGES = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 20, 50, 1e9]
CHUNK = 4096


def envelope(x):
    """Hilbert envelope |analytic signal| along the last axis (FFT, even length)."""
    n = x.shape[-1]
    X = np.fft.fft(x, axis=-1)
    h = np.zeros(n)
    h[0] = 1
    h[1:n // 2] = 2
    h[n // 2] = 1
    return np.abs(np.fft.ifft(X * h, axis=-1))


def window_power(x, half):
    """Sum of x^2 within +-half samples (periodic, as the simulated traces) of the envelope peak."""
    env = envelope(x)
    peak = np.argmax(env, axis=-1)
    n = x.shape[-1]
    idx = (peak[:, None] + np.arange(-half, half + 1)[None, :]) % n
    return np.take_along_axis(x * x, idx, axis=-1).sum(-1), peak


def clopper_pearson(k, n, cl=0.6827):
    """Central interval of a binomial proportion (beta quantiles by bisection, no scipy)."""
    if n == 0:
        return (math.nan, math.nan)

    def betainc_cdf(x, a, b):  # regularised incomplete beta by continued fraction (Numerical Recipes)
        if x <= 0:
            return 0.0
        if x >= 1:
            return 1.0
        lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
        if x < (a + 1) / (a + b + 2):
            return math.exp(lbeta) * _cf(x, a, b) / a
        return 1 - math.exp(lbeta) * _cf(1 - x, b, a) / b

    def _quantile(q, a, b):
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if betainc_cdf(mid, a, b) < q:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    alpha = 1 - cl
    lo = 0.0 if k == 0 else _quantile(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else _quantile(1 - alpha / 2, k + 1, n - k)
    return lo, hi


def _cf(x, a, b):
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        de = d * c
        h *= de
        if abs(de - 1) < 1e-12:
            break
    return h


def auc(score, label):
    order = np.argsort(score, kind="stable")
    s = score[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + 1 + j)
        i = j
    r = np.empty(len(s))
    r[order] = ranks
    pos = label == 1
    npos, nneg = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def read_truth(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][...] for k in ("has_signal", "snr", "energy")}


def read_scores(path, n, what):
    with h5py.File(path, "r") as f:
        if "output" not in f:
            sys.exit("radio_analysis: %s has no 'output' data set (a `cascade predict` file of %s?)" % (path, what))
        out = f["output"][...].reshape(f["output"].shape[0], -1)
    if out.shape[0] != n:
        sys.exit("radio_analysis: %s holds %d samples, the data file %d" % (path, out.shape[0], n))
    return out


def denoise_quantities(data_path, pred_path, half):
    """Per event: window powers of the denoised, noisy and clean traces, RMS of noise and residual."""
    with h5py.File(data_path, "r") as f, h5py.File(pred_path, "r") as p:
        n = f["noisy"].shape[0]
        if "output" not in p or p["output"].shape[0] != n:
            sys.exit("radio_analysis: %s is no `cascade predict` output for %s" % (pred_path, data_path))
        q = {k: np.empty(n) for k in ("p_den", "p_noisy", "p_clean", "p_sub", "rms_noise", "rms_res", "peak_clean",
                                       "dt_peak")}
        sigma2 = float(f.attrs["noise_rms_uV"]) ** 2
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            noisy = f["noisy"][a:b].astype(np.float64)
            clean = f["clean"][a:b].astype(np.float64)
            den = p["output"][a:b].reshape(b - a, -1).astype(np.float64)
            q["p_den"][a:b], pk_den = window_power(den, half)
            q["p_noisy"][a:b], _ = window_power(noisy, half)
            idx = (pk_den[:, None] + np.arange(-half, half + 1)[None, :]) % noisy.shape[1]
            q["p_sub"][a:b] = np.take_along_axis(noisy * noisy, idx, axis=-1).sum(-1) - (2 * half + 1) * sigma2
            q["p_clean"][a:b], pk_clean = window_power(clean, half)
            q["rms_noise"][a:b] = np.sqrt(((noisy - clean) ** 2).mean(-1))
            q["rms_res"][a:b] = np.sqrt(((den - clean) ** 2).mean(-1))
            q["peak_clean"][a:b] = envelope(clean).max(-1)
            d = (pk_den - pk_clean + 256) % 512 - 256
            q["dt_peak"][a:b] = d
    return q


def fit_calibration(logp, loge):
    """Least-squares log10 E = a + b log10 P."""
    A = np.vstack([np.ones_like(logp), logp]).T
    (a, b), *_ = np.linalg.lstsq(A, loge, rcond=None)
    return float(a), float(b)


def spread(rel):
    """Standard deviation, 68 % half-width (16-84 %) and median of E_rec/E - 1."""
    if rel.size < 5:
        return dict(n=int(rel.size), std=None, hw68=None, median=None, mean=None)
    lo, med, hi = np.percentile(rel, [15.865, 50, 84.135])
    return dict(n=int(rel.size), std=float(rel.std()), hw68=float(0.5 * (hi - lo)), median=float(med),
                mean=float(rel.mean()))


def bins_of(snr):
    return [(lo, hi, (snr >= lo) & (snr < hi)) for lo, hi in zip(SNR_EDGES[:-1], SNR_EDGES[1:])]


def band_response(f):
    """The simulator's amplitude response (datasets/README.md): 1 in 35-75 MHz, sin^2 edges to 0 at 30/80."""
    h = np.zeros_like(f)
    h[(f >= 35) & (f <= 75)] = 1
    m = (f > 30) & (f < 35)
    h[m] = np.sin(np.pi / 2 * (f[m] - 30) / 5) ** 2
    m = (f > 75) & (f < 80)
    h[m] = np.sin(np.pi / 2 * (80 - f[m]) / 5) ** 2
    return h


def matched_filter_scores(calib_path, test_path):
    """Whitened matched-filter statistic per trace of both files (see --baseline)."""
    def noisy(path):
        with h5py.File(path, "r") as f:
            return f["noisy"], f["has_signal"][...]

    with h5py.File(calib_path, "r") as fc:
        hs = fc["has_signal"][...]
        n = fc["noisy"].shape[1]
        psd = np.zeros(n)
        cnt = 0
        for a in range(0, len(hs), CHUNK):
            sel = hs[a:a + CHUNK] == 0
            X = np.fft.fft(fc["noisy"][a:a + CHUNK][sel].astype(np.float64), axis=1)
            psd += (np.abs(X) ** 2).sum(0)
            cnt += int(sel.sum())
        psd /= max(cnt, 1)
    f = np.arange(n) / n * 1000.0  # MHz at 1 ns sampling
    band = (f > 30) & (f < 80)
    templates = []
    for s in (0.0, 0.01, 0.02, 0.03):
        shape = np.zeros(n)
        shape[band] = np.exp(-s * (f[band] - 55)) * band_response(f[band])
        t = np.zeros(n)
        t[band] = shape[band] / psd[band]
        templates.append((t, math.sqrt((shape[band] ** 2 / psd[band]).sum())))

    def scores(path):
        with h5py.File(path, "r") as fh:
            out = np.empty(fh["noisy"].shape[0])
            for a in range(0, len(out), CHUNK):
                X = np.fft.fft(fh["noisy"][a:a + CHUNK].astype(np.float64), axis=1)
                best = None
                for t, norm in templates:
                    y = np.abs(np.fft.ifft(X * t[None, :], axis=1))[:, 100:412].max(1) / norm
                    best = y if best is None else np.maximum(best, y)
                out[a:a + len(best)] = best
        return out

    return scores(calib_path)[:, None], scores(test_path)[:, None]


def analyse_detection(test, calib, det_test, det_calib, fpr):
    s_cal = det_calib[:, 0]
    noise_cal = s_cal[calib["has_signal"] == 0]
    thr = float(np.quantile(noise_cal, 1 - fpr, method="higher"))
    s = det_test[:, 0]
    sig, noise = test["has_signal"] == 1, test["has_signal"] == 0
    fp = int((s[noise] > thr).sum())
    res = dict(threshold_logit=thr, calib_noise_events=int(noise_cal.size), target_fpr=fpr,
               test_noise_events=int(noise.sum()), false_positives=fp, fpr=fp / max(1, int(noise.sum())),
               fpr_interval68=clopper_pearson(fp, int(noise.sum())), auc=auc(s, test["has_signal"].astype(int)))
    for name, sel in (("snr_gt3", sig & (test["snr"] > 3)), ("snr_gt5", sig & (test["snr"] > 5)),
                      ("snr_2_3", sig & (test["snr"] > 2) & (test["snr"] <= 3)), ("all_signal", sig)):
        k, n = int((s[sel] > thr).sum()), int(sel.sum())
        res["efficiency_" + name] = dict(k=k, n=n, eff=k / max(1, n), interval68=clopper_pearson(k, n))
    rows = []
    for lo, hi, m in bins_of(test["snr"]):
        sel = sig & m
        k, n = int((s[sel] > thr).sum()), int(sel.sum())
        if n:
            rows.append(dict(snr_lo=lo, snr_hi=hi, n=n, eff=k / n, interval68=clopper_pearson(k, n)))
    res["efficiency_vs_snr"] = rows
    # the efficiency reached at a few other false-positive rates (threshold from the calibration file)
    res["efficiency_snr_gt3_at_fpr"] = {}
    for f in (1e-3, 2e-3, 5e-3, 1e-2):
        t = float(np.quantile(noise_cal, 1 - f, method="higher"))
        sel = sig & (test["snr"] > 3)
        res["efficiency_snr_gt3_at_fpr"]["%g" % f] = dict(
            eff=float((s[sel] > t).mean()), measured_fpr=float((s[noise] > t).mean()))
    return res


def analyse_denoise(test_path, calib_path, den_test, den_calib, test, calib, half):
    qt = denoise_quantities(test_path, den_test, half)
    qc = denoise_quantities(calib_path, den_calib, half)
    res = dict(window_ns=2 * half + 1)
    cal_sel = (calib["has_signal"] == 1) & (calib["snr"] > 3)
    sig = test["has_signal"] == 1
    calib_fits = {}
    erec = {}
    for src in ("den", "noisy", "clean"):
        a, b = fit_calibration(np.log10(qc["p_" + src][cal_sel]), np.log10(calib["energy"][cal_sel]))
        calib_fits[src] = dict(a=a, b=b)
        erec[src] = 10 ** (a + b * np.log10(np.maximum(qt["p_" + src], 1e-30)))
    res["calibration"] = dict(file=calib_path, events=int(cal_sel.sum()), fits=calib_fits,
                              form="log10(E/EeV) = a + b log10(P/uV^2)")
    e = test["energy"]
    fluence = np.sqrt(qt["p_den"] / np.maximum(qt["p_clean"], 1e-30)) - 1
    noisy_fluence = np.sqrt(qt["p_noisy"] / np.maximum(qt["p_clean"], 1e-30)) - 1
    located_fluence = np.sqrt(np.maximum(qt["p_sub"], 0) / np.maximum(qt["p_clean"], 1e-30)) - 1
    gain = qt["rms_noise"] / np.maximum(qt["rms_res"], 1e-30)
    for name, sel in (("snr_gt3", sig & (test["snr"] > 3)), ("snr_gt5", sig & (test["snr"] > 5)),
                      ("snr_gt10", sig & (test["snr"] > 10))):
        res[name] = dict(
            events=int(sel.sum()),
            pulse_amplitude_denoised=spread(fluence[sel]),
            pulse_amplitude_noisy=spread(noisy_fluence[sel]),
            pulse_amplitude_located=spread(located_fluence[sel]),
            energy_denoised=spread(erec["den"][sel] / e[sel] - 1),
            energy_noisy=spread(erec["noisy"][sel] / e[sel] - 1),
            energy_clean=spread(erec["clean"][sel] / e[sel] - 1),
            snr_gain_median=float(np.median(gain[sel])),
            peak_time_offset_ns_hw68=float(0.5 * np.diff(np.percentile(qt["dt_peak"][sel], [15.865, 84.135]))[0]),
        )
    rows = []
    for lo, hi, m in bins_of(test["snr"]):
        sel = sig & m
        if sel.sum() < 5:
            continue
        rows.append(dict(snr_lo=lo, snr_hi=hi, n=int(sel.sum()),
                         pulse_amplitude_denoised=spread(fluence[sel]), pulse_amplitude_noisy=spread(noisy_fluence[sel]),
                         pulse_amplitude_located=spread(located_fluence[sel]),
                         energy_denoised=spread(erec["den"][sel] / e[sel] - 1),
                         energy_clean=spread(erec["clean"][sel] / e[sel] - 1),
                         snr_gain=[float(v) for v in np.percentile(gain[sel], [15.865, 50, 84.135])],
                         residual_rms_uV=[float(v) for v in np.percentile(qt["rms_res"][sel], [15.865, 50, 84.135])],
                         residual_over_peak=[float(v) for v in np.percentile(
                             qt["rms_res"][sel] / qt["peak_clean"][sel], [15.865, 50, 84.135])]))
    res["vs_snr"] = rows
    noise = test["has_signal"] == 0
    res["noise_only"] = dict(events=int(noise.sum()), input_rms_uV=float(np.median(qt["rms_noise"][noise])),
                             output_rms_uV=float(np.median(qt["rms_res"][noise])),
                             gain_median=float(np.median(gain[noise])))
    return res, dict(q=qt, fluence=fluence, noisy_fluence=noisy_fluence, gain=gain, erec=erec)


def plots(outdir, test, det, den, arrays, test_path, den_pred, mf=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    written = []
    if det:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        rows = det["efficiency_vs_snr"]
        x = [math.sqrt(max(r["snr_lo"], 0.25) * min(r["snr_hi"], 100)) for r in rows]
        y = [r["eff"] for r in rows]
        lo = [r["eff"] - r["interval68"][0] for r in rows]
        hi = [r["interval68"][1] - r["eff"] for r in rows]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", color="C0",
                    label="CNN, FPR %.2g%% (measured %.2g%%)" % (100 * det["target_fpr"], 100 * det["fpr"]))
        if mf:
            rows_mf = mf["efficiency_vs_snr"]
            ax.plot([math.sqrt(max(r["snr_lo"], 0.25) * min(r["snr_hi"], 100)) for r in rows_mf],
                    [r["eff"] for r in rows_mf], "s--", color="C1", ms=4,
                    label="whitened matched filter, measured FPR %.2g%%" % (100 * mf["fpr"]))
        ax.axhline(0.9, color="0.6", ls="--", lw=1)
        ax.axvline(3, color="0.6", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("SNR (envelope peak / noise RMS)")
        ax.set_ylabel("signal efficiency")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("radio-detect: efficiency at fixed false-positive rate", fontsize=10)
        fig.tight_layout()
        p = os.path.join(outdir, "radio_detect_efficiency.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    if den:
        rows = den["vs_snr"]
        x = np.array([math.sqrt(max(r["snr_lo"], 0.25) * min(r["snr_hi"], 100)) for r in rows])
        fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
        a = axes[0, 0]
        g = np.array([r["snr_gain"] for r in rows])
        a.fill_between(x, g[:, 0], g[:, 2], alpha=0.3, color="C0")
        a.plot(x, g[:, 1], "o-", color="C0", label="median, 16-84 %")
        a.axhline(1, color="0.6", lw=1)
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylabel("SNR gain = RMS(noise) / RMS(denoised - clean)")
        a.legend(fontsize=8)
        a = axes[0, 1]
        r_ = np.array([r["residual_over_peak"] for r in rows])
        a.fill_between(x, r_[:, 0], r_[:, 2], alpha=0.3, color="C1")
        a.plot(x, r_[:, 1], "o-", color="C1", label="RMS(denoised - clean) / peak")
        a.plot(x, 1 / x, "--", color="0.5", label="noisy: RMS(noise) / peak = 1/SNR")
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_ylabel("residual / pulse peak")
        a.legend(fontsize=8)
        a = axes[1, 0]
        for key, c, lab in (("pulse_amplitude_denoised", "C0", "denoised"), ("pulse_amplitude_noisy", "C3", "noisy"),
                            ("pulse_amplitude_located", "C2", "noisy at denoised peak, noise subtracted")):
            med = np.array([r[key]["median"] for r in rows])
            hw = np.array([r[key]["hw68"] for r in rows])
            a.errorbar(x, med, yerr=hw, fmt="o-", color=c, capsize=2, label=lab + ": median ± 68 % half-width")
        a.axhline(0, color="0.6", lw=1)
        a.axvline(3, color="0.6", ls=":", lw=1)
        a.set_xscale("log")
        a.set_ylim(-1, 2)
        a.set_ylabel("√(P / P_clean) − 1 (pulse amplitude, ±64 ns)")
        a.legend(fontsize=8)
        a = axes[1, 1]
        for key, c, lab in (("energy_denoised", "C0", "denoised trace"), ("energy_clean", "C2", "clean trace (floor)")):
            med = np.array([r[key]["median"] for r in rows])
            hw = np.array([r[key]["hw68"] for r in rows])
            a.errorbar(x, med, yerr=hw, fmt="o-", color=c, capsize=2, label=lab + ": median ± 68 % half-width")
        a.axhline(0, color="0.6", lw=1)
        a.axvline(3, color="0.6", ls=":", lw=1)
        a.set_xscale("log")
        a.set_ylim(-1, 2)
        a.set_ylabel("E_rec / E − 1 (calibrated pulse power)")
        a.legend(fontsize=8)
        for a in axes[1]:
            a.set_xlabel("SNR")
        for a in axes[0]:
            a.set_xlabel("SNR")
        fig.suptitle("radio-denoise on held-out traces", fontsize=11)
        fig.tight_layout()
        p = os.path.join(outdir, "radio_denoise_vs_snr.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
        # example traces
        with h5py.File(test_path, "r") as f, h5py.File(den_pred, "r") as pr:
            snr, hs = test["snr"], test["has_signal"]
            pick = []
            for t in (1.5, 3, 5, 10, 30):
                idx = np.flatnonzero(hs == 1)
                pick.append(int(idx[np.argmin(np.abs(np.log(snr[idx] + 1e-9) - math.log(t)))]))
            pick.append(int(np.flatnonzero(hs == 0)[0]))
            fig, axes = plt.subplots(len(pick), 1, figsize=(9, 1.9 * len(pick) + 0.5), sharex=True)
            for a, i in zip(axes, pick):
                t = np.arange(512)
                a.plot(t, f["noisy"][i], color="0.7", lw=0.7, label="noisy")
                a.plot(t, f["clean"][i], color="C3", lw=1.2, label="clean")
                a.plot(t, pr["output"][i].reshape(-1), color="C0", lw=1.0, label="denoised")
                a.set_title("event %d: %s" % (i, "SNR %.1f" % snr[i] if hs[i] else "noise only"), fontsize=9, loc="left")
                a.set_ylabel("µV")
            axes[0].legend(fontsize=8, loc="upper right")
            axes[-1].set_xlabel("time [ns]")
            fig.tight_layout()
            p = os.path.join(outdir, "radio_denoise_traces.png")
            fig.savefig(p, dpi=110)
            plt.close(fig)
            written.append(p)
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", required=True, help="held-out cascade simulate radio file")
    ap.add_argument("--calib", required=True, help="calibration file (threshold, energy calibration)")
    ap.add_argument("--detect", help="cascade predict of radio-detect on --test")
    ap.add_argument("--calib-detect", help="cascade predict of radio-detect on --calib")
    ap.add_argument("--denoise", help="cascade predict of radio-denoise on --test")
    ap.add_argument("--calib-denoise", help="cascade predict of radio-denoise on --calib")
    ap.add_argument("--baseline", action="store_true", help="also the whitened matched filter (no training)")
    ap.add_argument("--fpr", type=float, default=0.002, help="false-positive rate of the threshold [0.002]")
    ap.add_argument("--window", type=int, default=64, help="half-width of the power window [ns = samples] [64]")
    ap.add_argument("--json", help="write the figures here (default: stdout)")
    ap.add_argument("-o", "--plots", help="directory for the PNGs")
    a = ap.parse_args(argv)
    if not a.detect and not a.denoise:
        ap.error("give --detect and/or --denoise")
    if bool(a.detect) != bool(a.calib_detect) or bool(a.denoise) != bool(a.calib_denoise):
        ap.error("--detect needs --calib-detect and --denoise needs --calib-denoise")
    test, calib = read_truth(a.test), read_truth(a.calib)
    out = dict(test=a.test, calib=a.calib)
    det = den = arrays = None
    if a.detect:
        det = analyse_detection(test, calib, read_scores(a.detect, len(test["snr"]), "radio-detect"),
                                read_scores(a.calib_detect, len(calib["snr"]), "radio-detect"), a.fpr)
        out["detection"] = det
    if a.baseline:
        mf_calib, mf_test = matched_filter_scores(a.calib, a.test)
        out["matched_filter"] = analyse_detection(test, calib, mf_test, mf_calib, a.fpr)
    if a.denoise:
        den, arrays = analyse_denoise(a.test, a.calib, a.denoise, a.calib_denoise, test, calib, a.window)
        out["denoising"] = den
    text = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if a.plots:
        for p in plots(a.plots, test, det, den, arrays, a.test, a.denoise, out.get("matched_filter")):
            print("wrote", p, file=sys.stderr)
    # a short summary
    for key, det_ in (("cnn", det), ("matched filter", out.get("matched_filter"))):
        if not det_:
            continue
        e3 = det_["efficiency_snr_gt3"]
        print("detection (%s): threshold at FPR %.3g on %d calibration noise events; test FPR %.4f (%d/%d), "
              "efficiency SNR>3 %.4f (%d/%d), AUC %.4f" % (key, a.fpr, det_["calib_noise_events"], det_["fpr"],
                                                           det_["false_positives"], det_["test_noise_events"],
                                                           e3["eff"], e3["k"], e3["n"], det_["auc"]), file=sys.stderr)
    if den:
        s = den["snr_gt3"]
        print("denoising, SNR>3 (%d events): pulse amplitude median %+.3f, 68%% half-width %.3f (located: %+.3f, %.3f); "
              "energy (calibrated) "
              "median %+.3f, std %.3f, hw68 %.3f (clean-trace floor hw68 %.3f); SNR gain median %.2f" % (
                  s["events"], s["pulse_amplitude_denoised"]["median"], s["pulse_amplitude_denoised"]["hw68"],
                  s["pulse_amplitude_located"]["median"], s["pulse_amplitude_located"]["hw68"],
                  s["energy_denoised"]["median"], s["energy_denoised"]["std"], s["energy_denoised"]["hw68"],
                  s["energy_clean"]["hw68"], s["snr_gain_median"]), file=sys.stderr)


if __name__ == "__main__":
    main()
