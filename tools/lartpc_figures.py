#!/usr/bin/env python3
"""LArTPC figures from `cascade predict` output (issue #6 jobs lartpc-classify, lartpc-segment).

    lartpc_figures.py PRED.h5 --task classify|segment [--labels TEST.h5] [--json OUT.json]

PRED.h5 is what `cascade predict RUN --data TEST.h5 -o PRED.h5` writes: `output` (logits:
(N, 3) for classify, (N, 3, 64, 64) for segment) and the labels (`event_label`, `pixel_label`).
Figures (the same definitions as `cascade evaluate`, src/eval/metrics.c):
  classify: accuracy, confusion_matrix (counts, rows = true class 0 nu_mu CC, 1 nu_e CC, 2 NC,
            columns = predicted), efficiency per class (the row-normalised diagonal).
  segment:  per pixel over all events: accuracy, confusion_matrix, iou_K = TP / (TP + FP + FN)
            for K = 0 empty, 1 track, 2 shower, mean_iou.
The same functions score PyTorch's predictions in bench/physics_torch.py.
Debian python3 packages only (h5py, numpy)."""
import argparse
import json

import h5py
import numpy as np

LABEL = {"classify": "event_label", "segment": "pixel_label"}


def confusion(logits, labels, classes):
    """Counts (classes, classes), rows = true class, columns = argmax of the logits (axis 1)."""
    pred = np.asarray(logits).argmax(axis=1).reshape(-1)
    true = np.asarray(labels).astype(np.int64).reshape(-1)
    return np.bincount(true * classes + pred, minlength=classes * classes).reshape(classes, classes)


def figures(task, logits, f):
    """Figures of `task` for logits against the labels of the open HDF5 file f."""
    logits = np.asarray(logits)
    classes = logits.shape[1]
    cm = confusion(logits, f[LABEL[task]][...], classes)
    out = {"accuracy": float(np.trace(cm) / cm.sum()), "confusion_matrix": cm.tolist(), "n": int(len(logits))}
    if task == "classify":
        for k in range(classes):
            out["efficiency_%d" % k] = float(cm[k, k] / max(cm[k].sum(), 1))
    else:
        ious = []
        for k in range(classes):
            union = cm[k].sum() + cm[:, k].sum() - cm[k, k]
            ious.append(float(cm[k, k] / union) if union else float("nan"))
            out["iou_%d" % k] = ious[-1]
        out["mean_iou"] = float(np.nanmean(ious))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pred")
    ap.add_argument("--task", required=True, choices=sorted(LABEL))
    ap.add_argument("--labels", help="file with the labels (default: PRED itself)")
    ap.add_argument("--json")
    a = ap.parse_args()
    with h5py.File(a.pred, "r") as p, h5py.File(a.labels or a.pred, "r") as f:
        figs = figures(a.task, p["output"][...], f)
    text = json.dumps(figs)
    print(text)
    if a.json:
        with open(a.json, "w") as o:
            o.write(text + "\n")


if __name__ == "__main__":
    main()
