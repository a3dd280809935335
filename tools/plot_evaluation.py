#!/usr/bin/env python3
"""Plots a physicist expects from `cascade evaluate --plots DIR` (called by cascade itself).

usage: /usr/bin/python3 tools/plot_evaluation.py PREDICTIONS.h5 METRICS.json -o DIR
       [--targets a,b] [--inputs a,b] [--loss mse|ce|bce|angular|...]

PREDICTIONS.h5 is what `cascade predict` writes: `output` (N, ...) and the target data sets.
Regression: predicted vs true, residual distribution, resolution and bias vs the true value
(vs energy for logE); for any other target of a data set with `logE` (air showers: xmax, core,
...) also resolution and bias vs the true energy, read from PREDICTIONS.h5 or the data file
named in its `data` attribute. Classification: ROC curve(s) and confusion matrix; per-pixel labels
(segmentation) also segmentation_examples.png: the first input of the evaluated data file (its
name in PREDICTIONS.h5's `data` attribute), the true and the predicted labels of a few samples
side by side. Direction targets
(loss = angular): the distribution of the angle between predicted and true direction.
Autoencoders (--kind autoencoder): the distribution of the anomaly score.
"""
import argparse
import json
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save(fig, out, name, written):
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)


def binned(x, r, bins=10):
    edges = np.quantile(x, np.linspace(0, 1, bins + 1))
    centre, res, bias = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (x >= lo) & (x <= hi)
        if m.sum() < 5:
            continue
        centre.append(0.5 * (lo + hi))
        res.append(np.std(r[m]))
        bias.append(np.mean(r[m]))
    return np.array(centre), np.array(res), np.array(bias)


def shower_energy(predictions, n):
    """log10 E per sample when the predictions or their data file have `logE`, else None."""
    with h5py.File(predictions, "r") as f:
        if "logE" in f:
            return f["logE"][...].reshape(-1)
        data = f.attrs.get("data")
    data = data.decode() if isinstance(data, bytes) else data
    if not data or not os.path.exists(data):
        return None
    with h5py.File(data, "r") as f:
        if "logE" not in f or f["logE"].shape[0] != n:
            return None
        return f["logE"][...].reshape(-1)


def regression(out, pred, targets, names, written, logE=None):
    cols = [(names[i], targets[i].reshape(len(pred), -1)) for i in range(len(names))]
    j = 0
    for name, y in cols:
        for k in range(y.shape[1]):
            p, t = pred[:, j], y[:, k]
            j += 1
            label = name if y.shape[1] == 1 else "%s[%d]" % (name, k)
            r = p - t
            vs_energy = logE is not None and name != "logE"
            fig, ax = plt.subplots(1, 4 if vs_energy else 3, figsize=(18 if vs_energy else 14, 4))
            ax[0].hist2d(t, p, bins=60, cmap="viridis", cmin=1)
            lim = [min(t.min(), p.min()), max(t.max(), p.max())]
            ax[0].plot(lim, lim, "r--", lw=1)
            ax[0].set_xlabel("true " + label)
            ax[0].set_ylabel("predicted " + label)
            ax[1].hist(r, bins=80, histtype="step")
            ax[1].set_xlabel("predicted - true")
            ax[1].set_title("bias %.3g, resolution %.3g" % (r.mean(), r.std()))
            c, res, bias = binned(t, r)
            ax[2].plot(c, res, "o-", label="resolution (std)")
            ax[2].plot(c, bias, "s-", label="bias (mean)")
            ax[2].axhline(0, color="grey", lw=0.5)
            ax[2].set_xlabel("true " + label + (" (log10 E/eV)" if label == "logE" else ""))
            ax[2].legend()
            if label == "logE":  # energy resolution in percent
                ax2 = ax[2].twinx()
                ax2.plot(c, 100 * (10 ** res - 1), "^:", color="C2")
                ax2.set_ylabel("ΔE/E resolution [%]", color="C2")
            if vs_energy:  # the physicist's view: resolution and bias vs the shower energy
                c, res, bias = binned(logE, r)
                ax[3].plot(c, res, "o-", label="resolution (std)")
                ax[3].plot(c, bias, "s-", label="bias (mean)")
                ax[3].axhline(0, color="grey", lw=0.5)
                ax[3].set_xlabel("true log10(E/eV)")
                ax[3].set_ylabel("predicted - true " + label)
                ax[3].legend()
            save(fig, out, "regression_%s.png" % label.replace("[", "_").replace("]", ""), written)


def classification(out, logits, labels, loss, written):
    if loss == "bce":
        prob = 1 / (1 + np.exp(-logits.reshape(len(logits), -1)[:, 0]))
        probs = np.stack([1 - prob, prob], axis=1)
    else:
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        if probs.ndim > 2:  # segmentation: pixels as samples
            probs = np.moveaxis(probs, 1, -1).reshape(-1, probs.shape[1])
    labels = labels.reshape(-1).astype(int)
    classes = probs.shape[1]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    for c in ([1] if classes == 2 else range(classes)):  # binary: class 1; else each vs the rest
        s, y = probs[:, c], labels == c
        order = np.argsort(-s)
        tp = np.concatenate([[0], np.cumsum(y[order]) / max(y.sum(), 1)])
        fp = np.concatenate([[0], np.cumsum(~y[order]) / max((~y).sum(), 1)])
        auc = np.trapz(tp, fp)
        ax[0].plot(fp, tp, label="class %d vs rest (AUC %.3f)" % (c, auc))
    ax[0].plot([0, 1], [0, 1], "k:", lw=0.5)
    ax[0].set_xlabel("false positive rate")
    ax[0].set_ylabel("true positive rate")
    ax[0].legend()
    pred = probs.argmax(axis=1)
    n = min(len(labels), len(pred))  # as zip() did before: a valid_fraction run copies all labels
    cm = np.bincount(labels[:n] * classes + pred[:n], minlength=classes * classes).reshape(classes, classes).astype(float)
    cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    im = ax[1].imshow(cm, cmap="Blues", vmin=0, vmax=1)
    for i in range(classes):
        for j in range(classes):
            ax[1].text(j, i, "%.2f" % cm[i, j], ha="center", va="center", color="k" if cm[i, j] < 0.6 else "w")
    ax[1].set_xlabel("predicted class")
    ax[1].set_ylabel("true class")
    ax[1].set_title("confusion matrix (rows sum to 1)")
    fig.colorbar(im, ax=ax[1])
    save(fig, out, "classification.png", written)


def segmentation_examples(out, logits, labels, image, input_name, written, count=4):
    """Rows: samples (the first `count`); columns: input image, true labels, predicted labels."""
    count = min(count, len(logits))
    classes = logits.shape[1]
    cmap = plt.get_cmap("viridis", classes)
    fig, ax = plt.subplots(count, 3, figsize=(10, 3.2 * count), squeeze=False)
    for i in range(count):
        im = ax[i, 0].imshow(image[i], cmap="magma", origin="lower", aspect="auto")
        fig.colorbar(im, ax=ax[i, 0])
        for j, (lab, title) in enumerate(((labels[i], "true"), (logits[i].argmax(axis=0), "predicted")), start=1):
            im = ax[i, j].imshow(lab, cmap=cmap, vmin=-0.5, vmax=classes - 0.5, origin="lower", aspect="auto",
                                 interpolation="nearest")
            ax[i, j].set_title("sample %d: %s labels" % (i, title))
            fig.colorbar(im, ax=ax[i, j], ticks=range(classes))
        ax[i, 0].set_title("sample %d: %s" % (i, input_name))
    save(fig, out, "segmentation_examples.png", written)


def angular(out, pred, target, written):
    p = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    t = target / np.linalg.norm(target, axis=1, keepdims=True)
    ang = np.degrees(2 * np.arcsin(np.clip(np.linalg.norm(p - t, axis=1) / 2, 0, 1)))
    q68 = np.quantile(ang, 0.68)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(ang, bins=80, histtype="step")
    ax.axvline(q68, color="r", ls="--", label="68%% containment %.2f°" % q68)
    ax.set_xlabel("angle between predicted and true direction [deg]")
    ax.legend()
    save(fig, out, "angular.png", written)


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("predictions")
    a.add_argument("metrics")
    a.add_argument("-o", "--out", required=True)
    a.add_argument("--targets", default="")
    a.add_argument("--inputs", default="", help="the job's inputs (segmentation examples show the first)")
    a.add_argument("--loss", default="mse")
    a.add_argument("--kind", default="supervised")
    args = a.parse_args()
    os.makedirs(args.out, exist_ok=True)
    metrics = json.load(open(args.metrics))
    names = [n for n in args.targets.split(",") if n]
    written = []
    if args.kind == "autoencoder":
        with h5py.File(args.predictions, "r") as f:
            score = f["anomaly_score"][...]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(np.log10(np.maximum(score, 1e-12)), bins=80, histtype="step")
        ax.set_xlabel("log10 anomaly score (reconstruction error per element)")
        ax.set_ylabel("samples")
        save(fig, args.out, "anomaly_score.png", written)
        print("plot_evaluation.py: -> anomaly_score.png")
        return
    with h5py.File(args.predictions, "r") as f:
        pred = f["output"][...]
        if any(n not in f for n in names):
            sys.exit("plot_evaluation.py: %s lacks the targets %s" % (args.predictions, names))
        targets = [f[n][...] for n in names]
        data_file = f.attrs.get("data", b"")
    data_file = data_file.decode() if isinstance(data_file, bytes) else str(data_file)
    inputs = [n for n in args.inputs.split(",") if n]
    if args.loss in ("ce", "bce"):
        classification(args.out, pred, targets[0], args.loss, written)
        if args.loss == "ce" and pred.ndim > 2 and inputs:  # per-pixel labels: pictures of a few samples
            try:
                with h5py.File(data_file, "r") as f:
                    image = f[inputs[0]][:4]
            except (OSError, KeyError) as err:
                sys.exit("plot_evaluation.py: cannot read input '%s' of %s for the segmentation examples: %s"
                         % (inputs[0], data_file, err))
            segmentation_examples(args.out, pred[:4], targets[0][:4], image.reshape(pred[:4, 0].shape),
                                  inputs[0], written)
    elif args.loss == "angular":
        angular(args.out, pred.reshape(len(pred), -1), targets[0].reshape(len(pred), -1), written)
    else:
        regression(args.out, pred.reshape(len(pred), -1), targets, names, written,
                   shower_energy(args.predictions, len(pred)))
    print("plot_evaluation.py: loss %.4g -> %s" % (metrics.get("loss", float("nan")),
                                                   ", ".join(os.path.basename(w) for w in written)))


if __name__ == "__main__":
    main()
