#!/usr/bin/python3
"""Anomaly-score distributions and ROC curve of an autoencoder job (kind = autoencoder) from
`cascade predict` output and a 0/1 label of the data file it was run on.

    tools/anomaly_plot.py PRED.h5 --data MIXED.h5 --label is_pion [--names "e+/gamma,pi+"] -o scores.png

Prints the ROC AUC of the score (Mann-Whitney, ties averaged: the same number as
`cascade evaluate --anomaly-label`), the background efficiency at 50/90/99 % anomaly
efficiency and the quantiles of the score per class. Needs numpy, h5py, matplotlib.
"""
import argparse
import sys

import h5py
import numpy as np


def roc_auc(score, label):
    order = np.argsort(score, kind="stable")
    s = score[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + 1 + j)
        i = j
    r = np.empty(len(s))
    r[order] = ranks
    pos = label == 1
    npos, nneg = int(pos.sum()), int((~pos).sum())
    return float((r[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pred", help="cascade predict output of an autoencoder (anomaly_score)")
    ap.add_argument("--data", required=True, help="the data file predict ran on")
    ap.add_argument("--label", required=True, help="0/1 data set of --data (1 = anomaly)")
    ap.add_argument("--names", default="normal,anomaly", help="names of label 0 and 1 for the legend")
    ap.add_argument("-o", "--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    with h5py.File(a.pred, "r") as p, h5py.File(a.data, "r") as d:
        if "anomaly_score" not in p:
            sys.exit("anomaly_plot: %s has no anomaly_score (not an autoencoder's predict output?)" % a.pred)
        if a.label not in d:
            sys.exit("anomaly_plot: %s has no data set '%s'" % (a.data, a.label))
        score = p["anomaly_score"][...].astype(np.float64)
        label = d[a.label][...].astype(int)
    if score.shape != label.shape:
        sys.exit("anomaly_plot: %d scores but %d labels" % (score.size, label.size))
    names = [s.strip() for s in a.names.split(",")]
    auc = roc_auc(score, label)
    print("AUC %.4f (%d %s, %d %s)" % (auc, (label == 0).sum(), names[0], (label == 1).sum(), names[1]))
    bkg, sig = np.sort(score[label == 0]), np.sort(score[label == 1])
    for eff in (0.5, 0.9, 0.99):
        thr = np.quantile(sig, 1 - eff)
        print("  %s efficiency %.2f: %s passing %.4f" % (names[1], eff, names[0], (bkg >= thr).mean()))
    for name, v in ((names[0], bkg), (names[1], sig)):
        print("  %s score quantiles 10/50/90 %%: %.4g %.4g %.4g" % ((name,) + tuple(np.quantile(v, [0.1, 0.5, 0.9]))))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (h, r) = plt.subplots(1, 2, figsize=(11, 4.2))
    lo, hi = max(score.min(), 1e-6), score.max()
    bins = np.geomspace(lo, hi * 1.01, 80)
    for v, name in ((bkg, names[0]), (sig, names[1])):  # share of the class per logarithmic bin
        h.hist(v, bins=bins, histtype="step", weights=np.full(v.size, 1.0 / v.size), lw=1.5, label=name)
    h.set_xscale("log")
    h.set_yscale("log")
    h.set_xlabel("anomaly score (reconstruction MSE, normalised inputs)")
    h.set_ylabel("fraction of the class per bin")
    h.legend()
    thr = np.unique(score)[::max(1, len(np.unique(score)) // 2000)]
    tpr = [(sig >= t).mean() for t in thr]
    fpr = [(bkg >= t).mean() for t in thr]
    r.plot(fpr, tpr, color="C3", label="AUC = %.3f" % auc)
    r.plot([0, 1], [0, 1], ":", color="0.6")
    r.set_xlabel("%s passing (false-positive rate)" % names[0])
    r.set_ylabel("%s flagged (true-positive rate)" % names[1])
    r.legend(loc="lower right")
    fig.suptitle(a.title or "anomaly score: %s vs %s" % (names[0], names[1]))
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
