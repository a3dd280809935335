#!/usr/bin/env python3
"""SimGrid platform for cascade's scaling prediction (docs/scaling.md): a two-level fat tree
of one-rank nodes — LEAF nodes per leaf switch, ceil(N / LEAF) leaf switches, each leaf with
one up-link to each of LEAF spine switches (full bisection) — written as a SimGrid XML file,
and a hostfile naming the first N nodes (one simulated rank per node).

  bench/smpi/fattree.py N OUT.xml OUT.hosts [--speed-gf G] [--bw-gbps B] [--lat-us L] [--leaf K]

--speed-gf is a node's compute speed in Gflop/s: SMPI scales every measured compute burst by
smpi/host-speed / node speed, so node = F x smpi/host-speed simulates ranks F times faster
than the core that ran the simulation (bench/smpi/run.sh does that arithmetic)."""
import argparse
import math


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nodes", type=int)
    ap.add_argument("xml")
    ap.add_argument("hosts")
    ap.add_argument("--speed-gf", type=float, default=100.0, help="node speed, Gflop/s (default 100)")
    ap.add_argument("--bw-gbps", type=float, default=100.0, help="link bandwidth, Gb/s (default 100)")
    ap.add_argument("--lat-us", type=float, default=1.5, help="link latency, microseconds (default 1.5)")
    ap.add_argument("--leaf", type=int, default=32, help="nodes per leaf switch (default 32)")
    a = ap.parse_args()
    if a.nodes < 1 or a.leaf < 1:
        ap.error("nodes and --leaf must be >= 1")
    leaf = min(a.leaf, a.nodes)
    leaves = math.ceil(a.nodes / leaf)
    total = leaf * leaves
    # SimGrid FAT_TREE: levels; down-links per level; up-links per level; parallel links
    topo = f"2;{leaf},{leaves};1,{leaf};1,1"
    with open(a.xml, "w") as f:
        f.write(f"""<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<!-- {a.nodes} nodes: {leaves} leaf switches x {leaf} nodes, {leaf} spine switches;
     {a.bw_gbps:g} Gb/s links, {a.lat_us:g} us latency; node speed {a.speed_gf:g} Gflop/s -->
<platform version="4.1">
  <zone id="world" routing="Full">
    <cluster id="fattree" prefix="node-" suffix="" radical="0-{total - 1}"
             speed="{a.speed_gf:g}Gf" bw="{a.bw_gbps:g}Gbps" lat="{a.lat_us:g}us"
             loopback_bw="{4 * a.bw_gbps:g}Gbps" loopback_lat="0.1us"
             topology="FAT_TREE" topo_parameters="{topo}"/>
  </zone>
</platform>
""")
    with open(a.hosts, "w") as f:
        for i in range(a.nodes):
            f.write(f"node-{i}\n")


if __name__ == "__main__":
    main()
