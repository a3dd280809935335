"""usage: compare_params.py REF.h5 CKPT.h5 RTOL [INIT.h5]
Every /params/NET/LAYER/PARAM of REF against the checkpoint: normwise relative error
max|a - b| / max|b| <= RTOL. With INIT.h5 the check is on the change from INIT (what the
updates did), so a run that moved no parameter cannot pass; a change smaller than the float32
resolution of the parameters then passes within 2 ulps of the largest parameter (a float32
engine cannot beat its own rounding). Exit 1 on any failure."""
import sys

import h5py
import numpy as np

ref, ck, rtol = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
init = h5py.File(sys.argv[4], "r") if len(sys.argv) > 4 else None
names = []
ref["params"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
worst, bad = 0.0, 0
for n in names:
    a, b = np.asarray(ck["params/" + n], dtype=np.float64), np.asarray(ref["params/" + n], dtype=np.float64)
    floor = 0.0
    if init is not None:
        a0 = np.asarray(init["params/" + n], dtype=np.float64)
        floor = 2 * float(np.spacing(np.float32(np.abs(a0).max())))
        a, b = a - a0, b - a0
    scale = max(np.abs(b).max(), 1e-30)
    err = np.abs(a - b).max() / scale
    worst = max(worst, err)
    ok = err <= rtol or np.abs(a - b).max() <= floor
    flag = "" if ok else "  FAIL"
    if not ok and init is not None and np.abs(b).max() == 0:
        flag = "  FAIL (the reference did not change it)"
    bad += flag != ""
    print("%-32s relerr %.2e%s" % (n, err, flag))
print("%d parameters, worst %.2e, %d failed (rtol %g)" % (len(names), worst, bad, rtol))
sys.exit(1 if bad or not names else 0)
