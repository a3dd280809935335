#!/usr/bin/env bash
# Checkpoints you can trust (docs/hdf5.md "Checksums"): the file's CRC-32C in LATEST and every
# data set's crc32c attribute match an independent (Python) CRC-32C; the file format has
# checksummed metadata (superblock >= 2); two flipped mantissa bytes in a weight are refused
# for an explicit --resume FILE (exit 3, naming the file) and for --init (naming the data set),
# and --resume auto falls back to the previous checkpoint with a warning naming the damaged one,
# ending bitwise as a run that never stopped; so does a truncated newest checkpoint; a NaN
# written into a parameter with a matching checksum (h5py) is refused naming the data set;
# step = -5 is refused naming the attribute; a data set name with control bytes comes out
# escaped. Checkpoints written by 2 ranks resumed on 1 and written by 1 resumed on 2.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-ckpt-trust.XXXXXX")
cd "$here"
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
"$py" "$CASCADE_SOURCE_DIR/tools/toy_airshower.py" -n 200 -o d.h5 --seed 8 >/dev/null
cat > job.ini <<'INI'
[job]
name = trust
seed = 4
[data]
train = d.h5
inputs = time, signal
targets = logE
normalize = standard
[train]
batch = 24
micro_batch = 4
steps = 40
deterministic = true
checkpoint_every = 10
keep_checkpoints = 3
[optimizer]
type = adam
lr = 2e-3
[model.c1]
type = conv2d
filters = 4
kernel = 3
[model.f]
type = flatten
[model.out]
type = dense
units = 1
INI
run() { # run RANKS ARGS...
  local n=$1
  shift
  mpirun --oversubscribe -n "$n" "$CASCADE_BIN" train job.ini --quiet "$@"
}
same() { # same RUN_A RUN_B: final checkpoints bitwise equal in params, optimizer state, counters
  for g in /params /optimizer /data; do
    h5diff "$1/checkpoints/step-00000040.h5" "$2/checkpoints/step-00000040.h5" $g $g
  done
}
cat > trust.py <<'PY'
import sys, h5py, numpy as np
T = []
for b in range(256):
    c = b
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    T.append(c)
def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
def check(d):  # LATEST.sums's record and every data set's attribute against this implementation
    latest = open(d + "/LATEST").read()
    assert latest.endswith("\n") and latest.count("\n") == 1, latest  # CONTRACT: the file name alone
    name, sums = latest.strip(), open(d + "/LATEST.sums").read().split("\n")
    rec = dict(kv.split("=") for kv in sums[0].split()[1:])
    assert sums[0].split()[0] == name, sums
    raw = open(d + "/" + name, "rb").read()
    assert int(rec["size"]) == len(raw) and int(rec["crc32c"], 16) == crc32c(raw), (rec, len(raw))
    assert raw[8] >= 2, "superblock version %d has no checksum" % raw[8]
    n = []
    with h5py.File(d + "/" + name, "r") as f:
        assert f.attrs["checksums"] == "crc32c"
        def one(key, o):
            if isinstance(o, h5py.Dataset):
                assert o.attrs["crc32c"] == crc32c(o[()].astype("<f4").tobytes()), key
                n.append(key)
        f.visititems(one)
    print("checked", len(n), "data sets and the file", name)
def flip(path, key):  # two mantissa bytes of element 3, in place
    with h5py.File(path, "r") as f:
        off = f[key].id.get_offset() + 3 * 4
    with open(path, "r+b") as fp:
        fp.seek(off)
        b = bytearray(fp.read(2))
        fp.seek(off)
        fp.write(bytes([b[0] ^ 0x5A, b[1] ^ 0x21]))
def nan(path, key, latest=None):  # a NaN with a matching checksum (and LATEST record)
    with h5py.File(path, "r+") as f:
        w = f[key][()]
        w.flat[0] = np.nan
        f[key][...] = w
        f[key].attrs["crc32c"] = np.uint32(crc32c(w.astype("<f4").tobytes()))
    if latest:
        raw = open(path, "rb").read()
        name = path.split("/")[-1]
        lines = open(latest + ".sums").read().split("\n")
        lines = [l if l.split(" ")[0] != name else "%s size=%d crc32c=%08x" % (name, len(raw), crc32c(raw))
                 for l in lines]
        open(latest + ".sums", "w").write("\n".join(lines))
def attr(path, name, value):
    with h5py.File(path, "r+") as f:
        f.attrs[name] = np.int64(value)
def badname(path):
    with h5py.File(path, "r+") as f:
        f["/params/model/c1/w\x1b[31m\x07"] = np.zeros(3, "f4")
globals()[sys.argv[1]](*sys.argv[2:])
PY
W=/params/model/out/weight

run 2 --out ref
"$py" trust.py check ref/checkpoints
echo "ckpt_trust: LATEST record and data set checksums agree with an independent CRC-32C"

# 1. flipped mantissa bytes in the newest checkpoint (written by 2 ranks)
run 2 --out flip --steps 30
"$py" trust.py flip flip/checkpoints/step-00000030.h5 $W
mkdir -p copy && cp flip/checkpoints/step-00000030.h5 copy/
expect 3 "step-00000030.h5 is damaged" -- run 1 --out flip --resume flip/checkpoints/step-00000030.h5
expect 3 "data set '$W' is damaged" -- run 1 --out other --init copy/step-00000030.h5
run 1 --out flip --resume auto 2> flip.log
grep -q "warning: flip/checkpoints/step-00000030.h5 is damaged" flip.log || { cat flip.log; exit 1; }
grep -q "resuming from flip/checkpoints/step-00000020.h5 instead" flip.log || { cat flip.log; exit 1; }
same ref flip
echo "ckpt_trust: flipped bytes refused; --resume auto fell back to step 20 and ended bitwise identical"

# 2. truncated newest checkpoint (written by 1 rank, resumed on 2)
run 1 --out trunc --steps 30
truncate -s 3000 trunc/checkpoints/step-00000030.h5
run 2 --out trunc --resume auto 2> trunc.log
grep -q "step-00000030.h5 is damaged: 3000 bytes" trunc.log || { cat trunc.log; exit 1; }
same ref trunc
echo "ckpt_trust: truncated newest checkpoint skipped, bitwise identical to a run that never stopped"

# 3. NaN in a parameter, its checksums made to match: refused by the finiteness check
run 2 --out nan --steps 30
cp nan/checkpoints/step-00000030.h5 copy/nan.h5
"$py" trust.py nan copy/nan.h5 $W
expect 3 "data set '$W' holds NaN at element 0" -- run 2 --out other --init copy/nan.h5
"$py" trust.py nan nan/checkpoints/step-00000030.h5 $W nan/checkpoints/LATEST
run 2 --out nan --resume auto 2> nan.log
grep -q "holds NaN" nan.log && grep -q "resuming from nan/checkpoints/step-00000020.h5" nan.log || { cat nan.log; exit 1; }
same ref nan
echo "ckpt_trust: a NaN parameter refused (--init) and skipped (--resume auto)"

# 4. counters out of range, named
cp ref/checkpoints/step-00000040.h5 copy/neg.h5
"$py" trust.py attr copy/neg.h5 step -5
expect 3 "attribute 'step' of '/' is -5" -- run 1 --out neg --resume copy/neg.h5
test ! -e neg/checkpoints || ! ls neg/checkpoints | grep -q -- "--"
cp ref/checkpoints/step-00000040.h5 copy/ws.h5
"$py" trust.py attr copy/ws.h5 world_size 0
expect 3 "attribute 'world_size' of '/' is 0" -- run 1 --out ws --resume copy/ws.h5
echo "ckpt_trust: step = -5 and world_size = 0 refused, naming the attribute"

# 5. a name with control bytes from a file comes out escaped
cp ref/checkpoints/step-00000040.h5 copy/name.h5
"$py" trust.py badname copy/name.h5
expect 3 'w\x1b[31m\x07' -- run 1 --out other --init copy/name.h5
if LC_ALL=C grep -q $'\x1b' err.log; then echo "raw escape byte in the message"; exit 1; fi
echo "ckpt_trust: file-provided names escaped in messages"
rm -rf "$here"
