#!/usr/bin/env bash
# cascade train --timeline FILE: one Chrome/Perfetto trace (JSON traceEvents) covering every
# rank (pid = rank), with forward and backward events for every layer of the net, the steps,
# optimizer updates, gradient bucket reductions and waits, validation and checkpoints, on 3
# ranks (an uneven deal of 4 micro-batches) in fast mode and on 2 in deterministic mode (exact
# reduce-scatter); a WGAN-GP job's double backward; an unwritable path fails with exit 4.
set -euo pipefail
here=$(mktemp -d "${CASCADE_BUILD_DIR:-/tmp}/it-timeline.XXXXXX")
cd "$here"
source "$CASCADE_SOURCE_DIR/tests/support/expect.sh"
py=${CASCADE_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mkdir data
"$CASCADE_BIN" simulate airshower -n 600 -o data/demo-train.h5 --seed 1 >/dev/null
"$CASCADE_BIN" simulate airshower -n 200 -o data/demo-valid.h5 --seed 2 >/dev/null
mpirun --oversubscribe -n 3 "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/demo.ini" --out runs/t --steps 4 \
  --timeline trace.json --quiet
"$py" - <<'PY'
import json
doc = json.load(open("trace.json"))
ev = doc["traceEvents"]
layers = {"model.conv1", "model.conv2", "model.pool", "model.flat", "model.fc", "model.out"}
for rank in range(3):
    mine = [e for e in ev if e["pid"] == rank and e["ph"] == "X"]
    names = {e["name"] for e in mine}
    for cat in ("forward", "backward"):
        seen = {e["name"] for e in mine if e["cat"] == cat}
        missing = layers - seen
        assert not missing, f"rank {rank}: no {cat} event for {missing}"
    assert any(e["ph"] == "M" and e["name"] == "process_name" and e["pid"] == rank for e in ev), rank
    for e in mine:
        assert e["ts"] >= 0 and e["dur"] >= 0, e
# 4 steps: rank 0 holds 1 micro-batch per step (4 // 3 blocks: 1, 1, 2), rank 2 holds 2
fwd = lambda r: sum(1 for e in ev if e["pid"] == r and e.get("cat") == "backward" and e["name"] == "model.conv1")
assert fwd(0) == 4 and fwd(2) == 8, (fwd(0), fwd(1), fwd(2))
for rank in range(3):
    cats = {e.get("cat") for e in ev if e["pid"] == rank}
    for want in ("step", "optimizer", "allreduce", "wait", "checkpoint", "validate"):
        assert want in cats, (rank, want, cats)
    assert sum(1 for e in ev if e["pid"] == rank and e.get("cat") == "step") == 4
print("timeline ok:", len(ev), "events")
PY
# the summary tool: every rank, the steps, an overlap fraction in [0, 1]
"$py" "$CASCADE_SOURCE_DIR/tools/timeline_summary.py" trace.json --json > summary.jsonl
"$py" -c "
import json
rows = [json.loads(l) for l in open('summary.jsonl')]
assert [r['rank'] for r in rows] == [0, 1, 2], rows
for r in rows:
    assert r['steps'] == 4 and r['reduction_s'] > 0 and 0 <= r['overlap'] <= 1, r
"
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/demo.ini" --out runs/det --steps 2 \
  --set train.deterministic=true --timeline det.json --quiet
"$py" -c "
import json
ev = json.load(open('det.json'))['traceEvents']
for r in (0, 1):
    cats = {e.get('cat') for e in ev if e['pid'] == r}
    assert {'reduce-scatter', 'allgather', 'exact'} <= cats, (r, cats)
"
cat > gan.ini <<'INI'
[job]
name = timeline-wgan-gp
kind = wgan-gp
[data]
train = data/demo-train.h5
inputs = signal
layout = channels
log_inputs = signal
normalize = standard
[train]
batch = 16
micro_batch = 8
steps = 2
[gan]
latent = 4
[generator.d1]
type = dense
units = 81
[generator.img]
type = reshape
shape = 1, 9, 9
[critic.c1]
type = conv2d
filters = 4
kernel = 3
activation = leaky_relu
[critic.f]
type = flatten
[critic.out]
type = dense
units = 1
INI
mpirun --oversubscribe -n 2 "$CASCADE_BIN" train gan.ini --out runs/gan --timeline gan.json --quiet
"$py" -c "
import json
ev = json.load(open('gan.json'))['traceEvents']
for r in (0, 1):
    names = {(e.get('cat'), e['name']) for e in ev if e['pid'] == r}
    for want in (('backward2', 'critic.c1'), ('forward', 'generator.d1'), ('backward', 'generator.d1'), ('step', 'training step')):
        assert want in names, (r, want)
"
expect 4 "timeline" -- mpirun --oversubscribe -n 2 "$CASCADE_BIN" train "$CASCADE_SOURCE_DIR/jobs/demo.ini" \
  --out runs/t2 --steps 1 --timeline no/such/dir/trace.json --quiet
echo "timeline: ok"
