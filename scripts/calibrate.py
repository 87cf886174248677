#!/usr/bin/env python3
"""Runs the calibration experiments (configs/calibration/) and compares the model with the
published figures they reproduce. Exit status 1 when a ratio leaves the target range.

    calibrate.py --binary build/sim/mmusim [KEY=VALUE ...]

KEY=VALUE pairs are passed to every run as --set overrides, to explore the latency table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOW, HIGH = 0.75, 1.33

def flush_call(stats):
    return stats["shootdowns"]["flush_call_cycles"]["max"]

def cpu0_finish(stats):
    return stats["per_cpu"][0]["finish_cycle"]

# (config, what is compared, published value, unit, how the model's cycles are read)
CASES = [
    ("amit2019-1-threads", "shootdown, 1 thread (fits the fixed work)", 661, "ns", cpu0_finish),
    ("amit2019-2-threads", "shootdown, 2 threads", 1436, "ns", cpu0_finish),
    ("amit2019-4-threads", "shootdown, 4 threads", 1571, "ns", cpu0_finish),
    ("hansen2014-1-pages", "local flush, 1 page", 1276, "cycles", flush_call),
    ("hansen2014-4-pages", "local flush, 4 pages", 2447, "cycles", flush_call),
    ("hansen2014-33-pages", "local flush, 33 pages", 8534, "cycles", flush_call),
    ("hansen2014-full", "local flush, full", 2283, "cycles", flush_call),
    ("latr2018-16-cores", "shootdown, 16 cores, 2 sockets", 6000, "ns", flush_call),
]



def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the mmusim binary")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    options = parser.parse_args()

    print(f"{'case':<42} {'published':>13} {'model':>13} {'ratio':>6}")
    print("-" * 77)
    failed = 0
    with tempfile.TemporaryDirectory() as work:
        for name, label, published, unit, read in CASES:
            config = os.path.join(ROOT, "configs", "calibration", name + ".json")
            out = os.path.join(work, name)
            args = [options.binary, "run", config, "--out", out, "-q"]
            for assignment in options.overrides:
                args += ["--set", assignment]
            subprocess.run(args, check=True)
            with open(os.path.join(out, "stats.json")) as f:
                stats = json.load(f)
            cycles = read(stats)
            mhz = stats["sim"]["frequency_mhz"]
            model = cycles * 1000.0 / mhz if unit == "ns" else float(cycles)
            ratio = model / published
            ok = LOW <= ratio <= HIGH
            failed += not ok
            print(f"{label:<42} {published:>6} {unit:<6} {model:>6.0f} {unit:<6} {ratio:>6.2f}"
                  + ("" if ok else "  out of range"))
    print("-" * 77)
    print(f"ratio = model / published; the target range is {LOW}..{HIGH}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
