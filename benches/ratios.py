#!/usr/bin/env python3
"""Runs a divan benchmark and prints every median as a ratio to the lock unit of the same run.

usage: python3 benches/ratios.py [BENCH ...]   (default: allocator)
Per-event figures divide chain benches by their chain length (the number after "chain").
Rows named X_com and X_direct are also compared with each other (COM / direct).
"""
import re
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


def main():
    benches = sys.argv[1:] or ["allocator"]
    for bench in benches:
        out = subprocess.run(["cargo", "bench", "-q", "--bench", bench], capture_output=True, text=True, check=True).stdout
        print(out)
        rows = parse(out)
        unit = rows.get("lock_unit")
        if not unit:
            sys.exit(f"{bench}: no lock_unit row in the output")
        print(f"ratios to the lock unit ({unit:.2f} ns, median) for bench '{bench}':")
        for name, ns in rows.items():
            m = re.search(r"chain(\d+)", name)
            per = f"   per event: {ns / int(m.group(1)) / unit:6.3f}" if m else ""
            print(f"  {name:28s} {ns / unit:8.3f}{per}")
        pairs = [(n[: -len("_com")], ns) for n, ns in rows.items() if n.endswith("_com")]
        for stem, ns in pairs:
            direct = rows.get(stem + "_direct")
            if direct:
                print(f"  {stem + ': COM / direct':28s} {ns / direct:8.3f}")


if __name__ == "__main__":
    main()
