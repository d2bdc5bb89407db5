#!/usr/bin/env python3
"""Runs a divan benchmark and prints every median as a ratio to the lock unit of the same run.

usage: python3 benches/ratios.py [--runs N] [BENCH ...]   (default: allocator, 3 runs)

Every ratio is computed within one run (a row's median over that run's lock_unit median), and
with several runs the median of the per-run ratios is printed, with their range, because
absolute times drift on a shared machine. Per-event figures divide chain benches by their chain
length (the number after "chain"). Rows named X_com and X_direct are also compared with each
other (COM / direct). For the allocator bench the issue's goals are checked at the end.
"""
import re
import statistics
import subprocess
import sys

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def parse(out):
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^[\s│├╰─]*([A-Za-z0-9_]+)\s+(?:│\s*)?([\d.]+ \S+)\s+│\s+([\d.]+ \S+)\s+│\s+([\d.]+ \S+)", line)
        if m:
            name = m.group(1)
            val, unit = m.group(4).split()
            rows[name] = float(val) * UNITS.get(unit, float("nan"))
    return rows


def derived(rows):
    """Per-run figures: every row over the lock unit, plus the allocator's derived ones."""
    unit = rows["lock_unit"]
    out = {name: ns / unit for name, ns in rows.items()}
    for name, ns in rows.items():
        m = re.search(r"chain(\d+)", name)
        if m:
            out[name + " per event"] = ns / int(m.group(1)) / unit
    if "chain64_put_only" in rows and "chain64_timer_floor" in rows:
        out["chain64 put share per event"] = (rows["chain64_put_only"] - rows["chain64_timer_floor"]) / 64 / unit
    if "buffer_pair" in rows and "box_240_pair" in rows:
        out["buffer_pair / box_240_pair"] = rows["buffer_pair"] / rows["box_240_pair"]
    if "get_put_pair" in rows and "locked_list_floor_pair" in rows:
        out["get_put_pair / locked_list_floor_pair"] = rows["get_put_pair"] / rows["locked_list_floor_pair"]
    for name, ns in rows.items():
        if name.endswith("_com"):
            direct = rows.get(name[: -len("_com")] + "_direct")
            if direct:
                out[name[: -len("_com")] + ": COM / direct"] = ns / direct
    return out


GOALS = {
    "allocator": [
        ("get_put_pair", 2.2),
        ("chain64 put share per event", 0.3),
        ("buffer_pair", 2.2),
        ("buffer_pair / box_240_pair", 1.0),
    ],
}


def main():
    args = sys.argv[1:]
    runs = 3
    if args[:1] == ["--runs"]:
        runs = int(args[1])
        args = args[2:]
    benches = args or ["allocator"]
    for bench in benches:
        per_run = []
        for i in range(runs):
            out = subprocess.run(["cargo", "bench", "-q", "--bench", bench], capture_output=True, text=True, check=True).stdout
            if i == 0:
                print(out)
            rows = parse(out)
            if "lock_unit" not in rows:
                sys.exit(f"{bench}: no lock_unit row in the output")
            per_run.append((rows["lock_unit"], derived(rows)))
        units = [u for u, _ in per_run]
        print(f"bench '{bench}': {runs} run(s); lock unit {statistics.median(units):.2f} ns median "
              f"({min(units):.2f}..{max(units):.2f})")
        print("  ratios (median of the per-run ratios, range):")
        medians = {}
        for name in per_run[0][1]:
            vals = [d[name] for _, d in per_run if name in d]
            med = statistics.median(vals)
            medians[name] = med
            print(f"  {name:40s} {med:8.3f}   ({min(vals):.3f}..{max(vals):.3f})")
        for name, goal in GOALS.get(bench, []):
            if name in medians:
                verdict = "met" if medians[name] <= goal else "NOT met"
                print(f"  goal {name} <= {goal}: {medians[name]:.3f} {verdict}")


if __name__ == "__main__":
    main()
