#!/usr/bin/env python3
"""Runs a divan benchmark and prints every median as a ratio to the lock unit of the same run.

usage: python3 benches/ratios.py [--runs N] [--baseline REV] [--only REGEX] [BENCH ...]
       (default: allocator, 3 runs, every bench; --only runs the benches matching REGEX and the
       lock unit, which is shorter and so less exposed to the machine's drift)

Every ratio is computed within one run (a row's median over that run's lock_unit median), and
with several runs the median of the per-run ratios is printed, with their range, because
absolute times drift on a shared machine. Per-event figures divide chain benches by their chain
length (the number after "chain"). Rows named X_com and X_direct are also compared with each
other (COM / direct). For the allocator bench the issue's goals are checked at the end (on the
medians); a few figures are also given from the fastest samples (see FASTEST).

With --baseline REV the bench is also built at git revision REV (in a temporary worktree under
target/), and the two executables run alternately, N times each, so that both see the same
phases of a machine whose speed drifts; both columns are printed.
"""
import json
import os
import re
import statistics
import subprocess
import sys

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def ns(text):
    val, unit = text.split()
    return float(val) * UNITS.get(unit, float("nan"))


def parse(out, column=4):
    """Every row's time in ns: its median (column 4, the default) or its fastest sample (2)."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^[\s│├╰─]*([A-Za-z0-9_]+)\s+(?:│\s*)?([\d.]+ \S+)\s+│\s+([\d.]+ \S+)\s+│\s+([\d.]+ \S+)", line)
        if m:
            rows[m.group(1)] = ns(m.group(column))
    return rows


# Figures also computed from every row's fastest sample (over the lock unit's fastest sample):
# on a machine whose speed drifts, a sample median can land in a slow phase for one row and not
# for the lock unit; the fastest samples show what the code costs when nothing interferes. (Not
# for the chain put share: its samples are single puts, near the timer's precision.)
FASTEST = [
    "get_put_pair",
    "chain64_get_and_put per event",
    "buffer_pair",
    "locked_list_floor_pair",
    "locked_list_floor_pair_dispatched",
]


def figures(out):
    """The per-run figures of one bench output: derived() of the medians, plus the FASTEST
    figures derived from the fastest samples."""
    out_rows = derived(parse(out))
    fast = derived(parse(out, column=2))
    for name in FASTEST:
        if name in fast:
            out_rows[name + " (fastest samples)"] = fast[name]
    return out_rows


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
    if "get_put_pair" in rows and "locked_list_floor_pair_dispatched" in rows:
        out["get_put_pair / locked_list_floor_pair_dispatched"] = (
            rows["get_put_pair"] / rows["locked_list_floor_pair_dispatched"]
        )
    for name, ns in rows.items():
        if name.endswith("_com"):
            base = name[: -len("_com")]
            direct = rows.get(base + "_direct")
            if direct:
                out[base + ": COM / direct"] = ns / direct
            cpp = rows.get(base + "_cpp")
            if cpp:
                out[base + ": Rust COM / C++"] = ns / cpp
                if direct:
                    out[base + ": Rust direct / C++"] = direct / cpp
    return out


GOALS = {
    "filter_chain": [
        ("chain64: Rust COM / C++", 1.0),
        ("single: Rust COM / C++", 1.2),
    ],
    "allocator": [
        ("get_put_pair", 2.2),
        ("chain64 put share per event", 0.3),
        ("buffer_pair", 2.2),
        ("buffer_pair / box_240_pair", 1.0),
    ],
}


def bench_binary(bench, cwd, target_dir=None):
    """Builds a bench and returns the path of its executable."""
    cmd = ["cargo", "bench", "--no-run", "--message-format=json", "--bench", bench]
    if target_dir:
        cmd += ["--target-dir", target_dir]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == bench:
            return msg["executable"]
    sys.exit(f"{bench}: no bench executable built in {cwd}")


def run_binary(exe, only=()):
    out = subprocess.run([exe, "--bench", *only], capture_output=True, text=True, check=True).stdout
    rows = parse(out)
    if "lock_unit" not in rows:
        sys.exit(f"{exe}: no lock_unit row in the output")
    return rows["lock_unit"], figures(out)


def summary(per_run):
    """Median and range of every per-run ratio, and of the lock unit."""
    units = [u for u, _ in per_run]
    out = {"lock unit ns": (statistics.median(units), min(units), max(units))}
    for name in per_run[0][1]:
        vals = [d[name] for _, d in per_run if name in d]
        out[name] = (statistics.median(vals), min(vals), max(vals))
    return out


def compare(bench, runs, baseline, only=()):
    """Builds `bench` at git revision `baseline` (in a worktree under target/) and as checked
    out, runs the two executables alternately `runs` times each, and prints both columns."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(root, "target", "ratios-baseline")
    if os.path.exists(tree):
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=root, check=True)
    subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, baseline], cwd=root, check=True)
    try:
        old = bench_binary(bench, tree, os.path.join(root, "target", "ratios-baseline-target"))
        new = bench_binary(bench, root)
        results = {old: [], new: []}
        for _ in range(runs):
            for exe in (old, new):
                results[exe].append(run_binary(exe, only))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=root, check=True)
    before, now = summary(results[old]), summary(results[new])
    print(f"bench '{bench}': {runs} interleaved run(s) each; before = {baseline}, now = the checkout")
    print(f"  {'row':50s} {'before: median (range)':26s} now: median (range)")
    for name, (med, lo, hi) in now.items():
        b = before.get(name)
        bcol = f"{b[0]:.3f} ({b[1]:.2f}..{b[2]:.2f})" if b else "-"
        print(f"  {name:50s} {bcol:26s} {med:.3f} ({lo:.2f}..{hi:.2f})")
    check_goals(bench, {name: v[0] for name, v in now.items()})


def check_goals(bench, medians):
    for name, goal in GOALS.get(bench, []):
        if name in medians:
            verdict = "met" if medians[name] <= goal else "NOT met"
            print(f"  goal {name} <= {goal}: {medians[name]:.3f} {verdict}")


def main():
    args = sys.argv[1:]
    runs, baseline, only = 3, None, []
    while args[:1] in (["--runs"], ["--baseline"], ["--only"]):
        if args[0] == "--runs":
            runs = int(args[1])
        elif args[0] == "--baseline":
            baseline = args[1]
        else:
            # A divan filter (regex); lock_unit is always run, every ratio needs it.
            only += [args[1], "lock_unit"]
        args = args[2:]
    benches = args or ["allocator"]
    for bench in benches:
        if baseline:
            compare(bench, runs, baseline, only)
            continue
        per_run = []
        for i in range(runs):
            out = subprocess.run(["cargo", "bench", "-q", "--bench", bench, "--", *only], capture_output=True, text=True, check=True).stdout
            if i == 0:
                print(out)
            rows = parse(out)
            if "lock_unit" not in rows:
                sys.exit(f"{bench}: no lock_unit row in the output")
            per_run.append((rows["lock_unit"], figures(out)))
        stats = summary(per_run)
        med, lo, hi = stats.pop("lock unit ns")
        print(f"bench '{bench}': {runs} run(s); lock unit {med:.2f} ns median ({lo:.2f}..{hi:.2f})")
        print("  ratios (median of the per-run ratios, range):")
        for name, (m, lo, hi) in stats.items():
            print(f"  {name:50s} {m:8.3f}   ({lo:.3f}..{hi:.3f})")
        check_goals(bench, {name: v[0] for name, v in stats.items()})


if __name__ == "__main__":
    main()
