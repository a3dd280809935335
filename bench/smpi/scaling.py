#!/usr/bin/env python3
"""cascade's training step predicted on simulated clusters with SimGrid SMPI (docs/scaling.md).

Every point runs cascade's own training step (the SMPI build, CMake CASCADE_SMPI=ON) on N
simulated ranks of a generated fat tree (bench/smpi/fattree.py) with synthetic input of the
job's shapes, and reads the step time from the run's metrics.jsonl.

  scaling.py point JOB MODE RANKS [--speedup F] [--strong] [--regions FILE]   one point
  scaling.py sweep [--quick] [--docs DIR]                     the study (bench/scaling.sh)
  scaling.py validate                                         predicted vs real mpirun 1/2/4 ranks
  scaling.py report RESULTS.jsonl [--docs DIR]                tables and plots of saved points

Environment: SCALING_RESULTS=FILE appends every point's figures to FILE (sweep).

Environment: CASCADE_SMPI_BUILD (build-smpi), CASCADE_BUILD (build) relative to the repository.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))

# Per job: the synthetic data sets (CASCADE_SYNTHETIC syntax, src/io/smpi/synthetic.c), the
# per-rank micro-batch of the weak-scaling runs, job overrides, and how far it fits in this
# machine's memory (every simulated rank lives in the one simulator process).
JOBS = {
    "airshower-energy": {
        "sets": "time=9x9 signal=9x9 logE", "valid": "data/showers-valid.h5", "micro": 64, "gan": False,
        "max_ranks": 1024,
    },
    "lartpc-segment": {
        "sets": "charge=64x64 pixel_label=64x64/3", "valid": "data/lartpc-valid.h5", "micro": 16, "gan": False,
        "max_ranks": 64,
    },
    "calo3-wgan-gp": {
        "sets": "layer_0=3x96 layer_1=12x12 layer_2=12x6 energy", "valid": None, "micro": 64, "gan": True,
        "max_ranks": 128,
    },
}
RANKS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
# metrics.jsonl has a line every log_every steps: the first covers the warm-up, the second
# the measured steps, so both are log_every long
WARM_STEPS = MEASURED_STEPS = 3


def smpi_build():
    return os.path.join(ROOT, os.environ.get("CASCADE_SMPI_BUILD", "build-smpi"))


def host_speed_gf():
    """The speed SMPI assigns to this machine's core (smpi/host-speed). Only the ratio node
    speed / host speed matters (a burst measured at t seconds takes t / F simulated seconds
    on nodes F times faster); the sgemm rate of one core makes the flop figures meaningful."""
    exe = os.path.join(ROOT, os.environ.get("CASCADE_BUILD", "build"), "bench", "sgemm_peak")
    if os.path.exists(exe):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        try:
            out = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=120).stdout
            return round(json.loads(out)["sgemm_gflops"], 1)
        except (subprocess.SubprocessError, ValueError, KeyError):
            pass
    return 100.0


def job_overrides(job, ranks, steps, strong):
    # (steps: even; the second half is measured)
    """--set overrides of one run: the global batch, streaming input (only the rank's own
    micro-batches are generated), no statistics pass over the whole synthetic file."""
    cfg = JOBS[job]
    micro = cfg["micro"]
    if strong:  # a fixed global batch of 1024 micro-batches of 4, dealt to the ranks
        micro, batch = 4, 4096
    else:  # weak: one micro-batch per rank
        batch = micro * ranks
    sets = {"train.batch": batch, "train.micro_batch": micro, "train.log_every": steps // 2,
            "train.checkpoint_every": 0}
    if cfg["gan"]:
        sets["data.valid_fraction"] = 0.01  # (must be > 0) the GAN preloads: barely more than one batch
    else:
        sets.update({"data.memory_budget_mb": 1, "data.normalize": "none", "data.normalize_targets": "none"})
    samples = batch + batch // 50 + 2 if cfg["gan"] else batch * (steps + 1)
    return sets, batch, samples


def run_point(job, mode, ranks, speedup=1.0, strong=False, steps=None, host_gf=None, keep=False, regions=None):
    """One simulated run; returns a dict with the step time in milliseconds. regions: a
    calibration file of compute-region times (CASCADE_SMPI_REGION_FILE: read when it exists,
    recorded otherwise; see src/parallel/smpi/region.c)."""
    steps = steps or WARM_STEPS + MEASURED_STEPS
    if steps < 2 or steps % 2:
        raise SystemExit(f"--steps {steps}: an even number >= 2 (half warm-up, half measured)")
    host_gf = host_gf or 100.0
    cfg = JOBS[job]
    exe = os.path.join(smpi_build(), "cascade")
    if not os.path.exists(exe):
        raise SystemExit(f"no SMPI build at {exe}: cmake -S . -B build-smpi -DCASCADE_SMPI=ON && "
                         "cmake --build build-smpi")
    sets, batch, samples = job_overrides(job, ranks, steps, strong)
    work = tempfile.mkdtemp(prefix=f"smpi-{job}-{mode}-{ranks}-")
    try:
        plat, hosts = os.path.join(work, "platform.xml"), os.path.join(work, "hosts")
        # CASCADE_SMPI_NET="BW_GBPS LAT_US": another network (e.g. "100000 0": an ideal one, to
        # separate the network's share of the step from the ranks' imbalance)
        net = os.environ.get("CASCADE_SMPI_NET", "100 1.5").split()
        subprocess.run([sys.executable, os.path.join(HERE, "fattree.py"), str(ranks), plat, hosts,
                        "--speed-gf", str(host_gf * speedup), "--bw-gbps", net[0], "--lat-us", net[1]], check=True)
        spec = f"{samples} {cfg['sets']}" + (f" {cfg['valid']}=64" if cfg["valid"] else "")
        env = dict(os.environ, CASCADE_SYNTHETIC=spec, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        if regions:
            env["CASCADE_SMPI_REGION_FILE"] = os.path.abspath(regions)
            if os.path.exists(regions):  # calibrated: layers charged, not run (region.c)
                env["CASCADE_SMPI_SKIP"] = "1"
        cmd = ["smpirun", "-np", str(ranks), "-platform", plat, "-hostfile", hosts,
               f"--cfg=smpi/host-speed:{host_gf}Gf",
               "--cfg=smpi/coll-selector:ompi",  # Open MPI's choice of collective algorithms
               # MPI_Test: 0.1 us per request tested (SMPI's default is 0.1 ms), and no growth: by
               # default SMPI doubles the time injected by each unsuccessful MPI_Test (a model of
               # a busy-polling loop), which charged the reducer's between-layer polls of 14
               # pending requests up to 0.1 ms each (docs/scaling.md)
               "--cfg=smpi/test:1e-7", "--cfg=smpi/grow-injected-times:no",
               # the platform's links as given: SMPI's default latency (x2..x11.6) and bandwidth
               # (x0.3..x0.94) factors by message size were fitted to a Gigabit-Ethernet TCP
               # cluster and make a 100 Gb/s fabric's allreduce ~20x slower (docs/scaling.md)
               "--cfg=smpi/lat-factor:0:1", "--cfg=smpi/bw-factor:0:0.92",
               "--cfg=contexts/stack-size:2048",  # KiB per simulated rank
               # compute is charged by cascade's regions (src/parallel/smpi/region.c: the median of a
               # layer's first samples, shared by all ranks), not by SMPI's timing of every burst
               # between MPI calls, which on a loaded machine makes a step the slowest of N noisy
               # bursts; CASCADE_SMPI_REGIONS=0 goes back to SMPI's own timing
               *([] if os.environ.get("CASCADE_SMPI_REGIONS") == "0" else ["--cfg=smpi/simulate-computation:no"]),
               "--log=root.thres:warning", "--log=smpi_config.thres:error",
               *os.environ.get("CASCADE_SMPI_CFG", "").split(),  # more --cfg=... (experiments)
               exe, "train", os.path.join(ROOT, "jobs", job + ".ini"), "--out", os.path.join(work, "run"),
               "--steps", str(steps), "--quiet"]
        if mode == "deterministic":
            cmd += ["--set", "train.deterministic=true"]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        for kv in os.environ.get("CASCADE_SMPI_SET", "").split():  # more job settings (experiments)
            cmd += ["--set", kv]
        if os.environ.get("CASCADE_SMPI_TIMELINE"):  # the simulated step's trace (experiments)
            cmd += ["--timeline", os.path.abspath(os.environ["CASCADE_SMPI_TIMELINE"])]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        wall = time.time() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{job} {mode} {ranks} ranks failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return parse_metrics(os.path.join(work, "run", "metrics.jsonl"), job, mode, ranks, batch, speedup,
                             strong, wall, steps // 2)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def parse_metrics(path, job, mode, ranks, batch, speedup, strong, wall, measured):
    train = [json.loads(line) for line in open(path) if '"split":"train"' in line]
    if len(train) < 2:
        raise RuntimeError(f"{path}: expected a warm-up and a measured train line, found {len(train)}")
    last = train[-1]
    per_step = batch * (job_gan_critic_steps(job) if JOBS[job]["gan"] else 1)
    step_s = per_step / last["samples_per_s"]
    out = {"job": job, "mode": mode, "ranks": ranks, "strong": strong, "speedup": speedup,
           "step_ms": round(1e3 * step_s, 3),
           "compute_ms": round(1e3 * last.get("compute_max_s", 0) / measured, 3),
           "comm_wait_ms": round(1e3 * last.get("comm_wait_max_s", 0) / measured, 3),
           "exact_ms": round(1e3 * last.get("exact_sum_max_s", 0) / measured, 3),
           "optimizer_ms": round(1e3 * last.get("optimizer_max_s", 0) / measured, 3),
           "wall_s": round(wall, 1)}
    return out


def job_gan_critic_steps(job):
    for line in open(os.path.join(ROOT, "jobs", job + ".ini")):
        key, _, value = line.partition("=")
        if key.strip() == "critic_steps":
            return int(value.split(";")[0])
    return 5


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1048576.0


# ---------------------------------------------------------------------------------------
def sweep(args):
    host_gf = host_speed_gf()
    if args.quick:
        # the targets' points (256 ranks, nodes 1x and 8x, both modes), about a minute each
        plan = [("airshower-energy", "fast", r, 1.0, False) for r in (1, 16, 256)]
        plan += [("airshower-energy", "fast", r, 8.0, False) for r in (1, 256)]
        plan += [("airshower-energy", "deterministic", r, f, False) for f in (1.0, 8.0) for r in (1, 256)]
    else:
        plan = []
        for job, cfg in JOBS.items():
            for speed in ((1.0, 8.0) if job == "airshower-energy" else (1.0,)):
                for mode in ("fast", "deterministic"):
                    plan += [(job, mode, r, speed, False) for r in RANKS if r <= cfg["max_ranks"]]
        plan += [("airshower-energy", mode, r, 1.0, True) for mode in ("fast", "deterministic")
                 for r in RANKS if r >= 2]
    results, ref = [], {}
    calib = tempfile.mkdtemp(prefix="smpi-regions-")
    for job, mode, ranks, speed, strong in plan:
        # every point of a job and mode charges the same compute: the region times of one
        # calibration run (1 rank, 12 steps) recorded before its first point
        regions = os.path.join(calib, f"{job}-{mode}.tsv")
        try:
            if not os.path.exists(regions):
                run_point(job, mode, 1, 1.0, False, 12, host_gf=host_gf, regions=regions)
            p = run_point(job, mode, ranks, speed, strong, host_gf=host_gf, regions=regions)
        except RuntimeError as e:
            print(f"scaling: {e}", file=sys.stderr)
            continue
        key = (job, mode, speed, strong)
        if strong:  # efficiency against 2 ranks: T2 * 2 / (TR * R)
            ref.setdefault(key, (p["step_ms"], ranks))
            t_ref, r_ref = ref[key]
            p["strong_efficiency"] = round(t_ref * r_ref / (p["step_ms"] * ranks), 3)
        else:
            ref.setdefault(key, p["step_ms"] if ranks == 1 else None)
            p["weak_efficiency"] = round(ref[key] / p["step_ms"], 3) if ref[key] else None
        p["host_gflops"] = host_gf
        results.append(p)
        if os.environ.get("SCALING_RESULTS"):  # every figure of every point, for `report`
            with open(os.environ["SCALING_RESULTS"], "a") as f:
                f.write(json.dumps(p) + "\n")
        if args.quick:
            print(json.dumps({k: p[k] for k in ("job", "mode", "ranks", "speedup", "weak_efficiency", "step_ms")}),
                  flush=True)
        else:
            print(json.dumps(p), flush=True)
    shutil.rmtree(calib, ignore_errors=True)
    if args.docs:
        write_docs(results, args.docs, host_gf)
    return results


def write_docs(results, docs, host_gf):
    os.makedirs(os.path.join(docs, "img"), exist_ok=True)
    with open(os.path.join(docs, "scaling-results.json"), "w") as f:
        for p in results:
            f.write(json.dumps(p) + "\n")
    lines = ["# Scaling prediction: results (generated by bench/scaling.sh)", "",
             f"One core of this machine: {host_gf} Gflop/s (OpenBLAS sgemm, 1 thread) = smpi/host-speed; "
             "nodes of speedup F compute at F times that. Fat tree of 32-node leaves, 100 Gb/s, 1.5 us. "
             f"{WARM_STEPS} warm-up steps, then the mean of {MEASURED_STEPS}. How it works and its limits: "
             "[scaling.md](scaling.md).", ""]
    for p in results:  # --quick lines carry only the headline figures
        p.setdefault("strong", False)
    weak = [p for p in results if not p["strong"]]
    lines += ["## Weak scaling (per-rank batch fixed: one micro-batch per rank)", "",
              "| job | mode | node speed | ranks | step ms | weak efficiency | compute ms | comm wait ms | exact ms | optimizer ms |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for p in weak:
        parts = [f"{p[k]:.2f}" if k in p else "-" for k in ("compute_ms", "comm_wait_ms", "exact_ms", "optimizer_ms")]
        eff = p.get("weak_efficiency")
        lines.append(f"| {p['job']} | {p['mode']} | {p['speedup']:g}x | {p['ranks']} | {p['step_ms']:.2f} | "
                     f"{eff if eff is not None else '-'} | " + " | ".join(parts) + " |")
    strong = [p for p in results if p["strong"]]
    if strong:
        lines += ["", "## Strong scaling (global batch 4096 = 1024 micro-batches of 4)", "",
                  "| job | mode | ranks | step ms | strong efficiency (vs 2 ranks) |", "|---|---|---|---|---|"]
        for p in strong:
            lines.append(f"| {p['job']} | {p['mode']} | {p['ranks']} | {p['step_ms']:.2f} | {p['strong_efficiency']} |")
    lines += ["", "![weak scaling](img/scaling-weak.png)", ""]
    if strong:
        lines += ["![strong scaling](img/scaling-strong.png)", ""]
    with open(os.path.join(docs, "scaling-results.md"), "w") as f:
        f.write("\n".join(lines))
    plot(results, docs)


def plot(results, docs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for kind, key in (("weak", "weak_efficiency"), ("strong", "strong_efficiency")):
        pts = [p for p in results if p["strong"] == (kind == "strong") and p.get(key) is not None]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for series in sorted({(p["job"], p["mode"], p["speedup"]) for p in pts}):
            s = sorted((p for p in pts if (p["job"], p["mode"], p["speedup"]) == series), key=lambda p: p["ranks"])
            ax.plot([p["ranks"] for p in s], [p[key] for p in s], marker="o",
                    label=f"{series[0]} {series[1]} {series[2]:g}x")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ranks (simulated)")
        ax.set_ylabel(f"{kind} efficiency")
        ax.set_ylim(0, 1.1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(f"cascade {kind} scaling predicted with SimGrid SMPI")
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "img", f"scaling-{kind}.png"), dpi=110)
        plt.close(fig)


# ---------------------------------------------------------------------------------------
def validate(args):
    """Predicted (SMPI, synthetic input) vs measured (mpirun, simulated showers) step times
    of airshower-energy, one micro-batch of 64 per rank, 1, 2 and 4 ranks."""
    build = os.path.join(ROOT, os.environ.get("CASCADE_BUILD", "build"))
    exe = os.path.join(build, "cascade")
    host_gf = host_speed_gf()
    work = tempfile.mkdtemp(prefix="smpi-validate-")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    os.makedirs(os.path.join(work, "data"))
    for name, n, seed in (("showers-train.h5", 2048, 101), ("showers-valid.h5", 64, 303)):
        subprocess.run([exe, "simulate", "airshower", "-n", str(n), "--seed", str(seed), "-o",
                        os.path.join(work, "data", name)], check=True, env=env, capture_output=True)
    rows = []
    for mode in ("fast", "deterministic"):
        for ranks in (1, 2, 4):
            steps = WARM_STEPS + MEASURED_STEPS
            sets, batch, _ = job_overrides("airshower-energy", ranks, steps, False)
            sets.pop("data.memory_budget_mb")  # real runs preload the small file, as a real job would
            cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), exe, "train",
                   os.path.join(ROOT, "jobs", "airshower-energy.ini"), "--out", f"run-{mode}-{ranks}",
                   "--steps", str(steps), "--quiet"]
            if mode == "deterministic":
                cmd += ["--set", "train.deterministic=true"]
            for k, v in sets.items():
                cmd += ["--set", f"{k}={v}"]
            subprocess.run(cmd, check=True, env=env, cwd=work, capture_output=True)
            real = parse_metrics(os.path.join(work, f"run-{mode}-{ranks}", "metrics.jsonl"), "airshower-energy",
                                 mode, ranks, batch, 1.0, False, 0, MEASURED_STEPS)
            pred = run_point("airshower-energy", mode, ranks, host_gf=host_gf)
            row = {"mode": mode, "ranks": ranks, "measured_ms": real["step_ms"], "predicted_ms": pred["step_ms"],
                   "ratio": round(pred["step_ms"] / real["step_ms"], 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("point")
    p.add_argument("job", choices=sorted(JOBS))
    p.add_argument("mode", choices=("fast", "deterministic"))
    p.add_argument("ranks", type=int)
    p.add_argument("--speedup", type=float, default=1.0)
    p.add_argument("--strong", action="store_true")
    p.add_argument("--steps", type=int)
    p.add_argument("--regions", help="compute-region calibration file (read if present, else recorded)")
    s = sub.add_parser("sweep")
    s.add_argument("--quick", action="store_true")
    s.add_argument("--docs", help="write scaling-results.md and img/scaling-*.png here")
    sub.add_parser("validate")
    r = sub.add_parser("report", help="tables and plots from the points saved by SCALING_RESULTS=FILE")
    r.add_argument("results")
    r.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    r.add_argument("--host-gflops", type=float)
    a = ap.parse_args()
    if a.cmd == "point":
        print(json.dumps(run_point(a.job, a.mode, a.ranks, a.speedup, a.strong, a.steps, host_speed_gf(),
                                   regions=a.regions)))
    elif a.cmd == "sweep":
        sweep(a)
    elif a.cmd == "report":
        results = [json.loads(line) for line in open(a.results) if line.strip()]
        write_docs(results, a.docs, a.host_gflops or results[0].get("host_gflops", 0))
    else:
        validate(a)


if __name__ == "__main__":
    main()
