#!/usr/bin/env python3
"""Turns what scripts/bench measured into one table (figure, value, target, ratio) on stdout
and a JSON file. A ratio of 1.00 or more means the target is met: value / target for a floor,
target / value for a ceiling."""

import argparse
import json
import statistics
from pathlib import Path


def load_benchmarks(path):
    """Google Benchmark's JSON: the context, and each repetition's entry by run name."""
    data = json.loads(Path(path).read_text())
    runs = {}
    for entry in data["benchmarks"]:
        if entry.get("run_type") != "iteration" or entry.get("error_occurred"):
            continue
        runs.setdefault(entry["run_name"], []).append(entry)
    return data.get("context", {}), runs


NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def spread(values):
    """Median, minimum and maximum of the repetitions."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "repetitions": len(values)}


def cpu_ns(entries):
    """Host CPU nanoseconds per iteration (per op for the microbenchmarks)."""
    return spread([e["cpu_time"] * NS_PER_UNIT[e["time_unit"]] for e in entries])


def manual_ns(entries, per):
    """Timed nanoseconds per item, for benchmarks that time their own batches."""
    return spread([e["real_time"] * NS_PER_UNIT[e["time_unit"]] / per for e in entries])


def counter(entries, name):
    return spread([e[name] for e in entries])


def find(runs, prefix):
    for name, entries in runs.items():
        if name == prefix or name.startswith(prefix + "/"):
            return entries
    raise KeyError(f"no benchmark named {prefix} in the results")


def stats_json(path):
    return json.loads(Path(path).read_text())


def callgrind_instructions(path):
    for line in Path(path).read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{path}: no instruction total")


def human(value, unit):
    if unit == "/s":
        for scale, suffix in ((1e9, " G/s"), (1e6, " M/s"), (1e3, " k/s")):
            if value >= scale:
                return f"{value / scale:.3g}{suffix}"
        return f"{value:.3g} /s"
    if unit == "ns":
        return f"{value:.3g} ns" if value < 1e4 else f"{value / 1e3:.3g} us"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "min":
        return f"{value:.1f} min"
    return f"{value:,.0f}{(' ' + unit) if unit else ''}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, figure, measured, unit, target=None, at_most=False, note=""):
        """`measured` is a spread (median, min, max) or a single number."""
        if not isinstance(measured, dict):
            measured = {"median": measured, "min": measured, "max": measured, "repetitions": 1}
        value = measured["median"]
        ratio = None
        if target is not None:
            ratio = (target / value if value else float("inf")) if at_most else value / target
        self.rows.append({
            "figure": figure,
            "value": value,
            "min": measured["min"],
            "max": measured["max"],
            "repetitions": measured["repetitions"],
            "unit": unit,
            "target": target,
            "target_kind": None if target is None else ("at_most" if at_most else "at_least"),
            "ratio": ratio,
            "met": None if ratio is None else ratio >= 1.0,
            "note": note,
        })

    def print(self):
        lines = []
        for row in self.rows:
            value = human(row["value"], row["unit"])
            if row["repetitions"] > 1 and row["max"] > row["min"]:
                low, high = row["min"], row["max"]
                value += f" ({human(low, row['unit']).split()[0]}-{human(high, row['unit'])})"
            target = "-" if row["target"] is None else (
                ("<= " if row["target_kind"] == "at_most" else ">= ") + human(row["target"], row["unit"]))
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}" + ("" if row["met"] else " MISSED")
            lines.append((row["figure"], value, target, ratio))
        widths = [max(len(line[i]) for line in lines + [("figure", "value", "target", "ratio")])
                  for i in range(4)]
        header = ("figure", "value (median, min-max)", "target", "ratio")
        widths = [max(w, len(h)) for w, h in zip(widths, header)]
        fmt = "  ".join("{:<%d}" % w for w in widths)
        print(fmt.format(*header))
        print(fmt.format(*("-" * w for w in widths)))
        for line in lines:
            print(fmt.format(*line))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True, help="scripts/bench's results folder")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--test-seconds", type=float, help="scripts/test's wall time, if timed")
    args = parser.parse_args()
    work = Path(args.work)
    table = Table()

    context, micro = load_benchmarks(work / "micro.json")
    _, runs = load_benchmarks(work / "runs.json")

    table.add("TLB lookup, L1 hit (translate)", cpu_ns(find(micro, "BM_TranslateL1Hit")), "ns",
              5.0, at_most=True)
    table.add("TLB lookup, L2 hit (translate, L1 refill)",
              cpu_ns(find(micro, "BM_TranslateL2Hit")), "ns")
    table.add("TLB miss + walk from a cached PDE (translate)",
              cpu_ns(find(micro, "BM_TranslateMissWalk")), "ns")
    table.add("STLB array lookup, hit", cpu_ns(find(micro, "BM_TlbArrayLookupHit")), "ns")
    table.add("STLB array lookup, miss", cpu_ns(find(micro, "BM_TlbArrayLookupMiss")), "ns")
    table.add("4-level walk, PDE cache hit", cpu_ns(find(micro, "BM_Walk4LevelPscHit")), "ns")
    table.add("4-level walk, no PSC hit", cpu_ns(find(micro, "BM_Walk4LevelNoPsc")), "ns")
    table.add("INVLPG of a cached page", manual_ns(find(micro, "BM_Invlpg"), 16), "ns")
    table.add("full flush (INVPCID 2), 256 pages cached",
              manual_ns(find(micro, "BM_FullFlush"), 1), "ns")
    table.add("op dispatch through a Cpu: compute",
              manual_ns(find(micro, "BM_OpDispatchCompute"), 2 << 20), "ns")
    table.add("op dispatch through a Cpu: L1-hit load",
              manual_ns(find(micro, "BM_OpDispatchLoad"), 2 << 20), "ns")
    table.add("trace parsing", counter(find(micro, "BM_TraceParse"), "items_per_second"), "/s",
              note="ops per host second")

    touch16 = counter(find(runs, "BM_Run/touch_16_pages"), "translations_per_s")
    bare16 = counter(find(runs, "BM_BareTouch16Pages"), "translations_per_s")
    table.add("1 CPU, 16 pages: translations/s", touch16, "/s", 50e6)
    table.add("1 CPU, 16 pages: vs the bare tlb/ loop", touch16["median"] / bare16["median"], "x",
              0.5, note=f"bare loop {human(bare16['median'], '/s')}")
    table.add("1 CPU, 64 Ki pages: translations/s",
              counter(find(runs, "BM_Run/touch_64k_pages"), "translations_per_s"), "/s", 10e6)
    table.add("fix_size_alloc, 1 CPU: pairs/s",
              counter(find(runs, "BM_Run/fix_size_alloc_1cpu"), "pairs_per_s"), "/s", 1e6)
    table.add("random_size_alloc, 64 CPUs: pairs/s",
              counter(find(runs, "BM_Run/random_size_alloc_64cpu"), "pairs_per_s"), "/s", 200e3)
    scale = {}
    for cpus in (1, 4, 16, 64, 256):
        scale[cpus] = counter(find(runs, f"BM_Scale/{cpus}"), "ns_per_event")
        table.add(f"same work per CPU, {cpus} CPUs: ns per event", scale[cpus], "ns")
    growth = max(scale[c]["median"] for c in scale) / scale[1]["median"]
    table.add("1 -> 256 CPUs: ns per event, largest / 1 CPU", growth, "x", 2.0, at_most=True)

    rss = stats_json(work / "rss256" / "stats.json")["host"]["peak_rss_kib"] / 1024
    table.add("peak RSS, 256 CPUs", rss, "MiB", 256.0, at_most=True)

    if (work / "replay_20000").exists():
        for kind in ("record", "replay"):
            small = stats_json(work / f"{kind}_20000" / "stats.json")
            large = stats_json(work / f"{kind}_160000" / "stats.json")
            growth = large["host"]["peak_rss_kib"] / small["host"]["peak_rss_kib"]
            table.add(f"trace {kind}: peak RSS, 8x the ops / 1x", growth, "x", 1.1, at_most=True,
                      note=f"{small['host']['peak_rss_kib'] // 1024} MiB at 1x")

    for name, per in (("touch_16_pages", "translation"), ("touch_64k_pages", "translation"),
                      ("fix_size_alloc_1cpu", "op")):
        out = work / f"callgrind.{name}.out"
        if not out.exists():
            continue
        stats = stats_json(work / f"cg_{name}" / "stats.json")
        count = (stats["total"]["translation"]["translations"] if per == "translation"
                 else stats["sim"]["ops"])
        table.add(f"callgrind: instructions per {per}, {name}",
                  callgrind_instructions(out) / count, "")

    if args.test_seconds is not None:
        table.add("scripts/test on a clean checkout (build + ctest)", args.test_seconds / 60,
                  "min", 10.0, at_most=True)

    table.print()
    result = {
        "format": "mmusim-bench 1",
        "host": {k: context.get(k) for k in ("host_name", "num_cpus", "mhz_per_cpu", "load_avg",
                                             "library_build_type", "date")},
        "figures": table.rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
