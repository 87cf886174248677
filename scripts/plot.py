#!/usr/bin/env python3
"""Plots mmusim results as PNG and SVG files.

    plot.py INPUT [--out DIR] [--stat COLUMN]

INPUT is a sweep's results.csv (or the sweep's folder), or a run's output folder (or its
stats.json). DIR defaults to INPUT's folder followed by plots/.

From a sweep: shootdown latency (mean and p99) against CPUs when platform.cpus is swept; IPIs
and full flushes per thousand frees against vmalloc.lazy_max_pages when that is swept;
otherwise, and whenever --stat is given, a statistic (--stat, default
tlb_maintenance_cycles_per_cpu) against the first swept key, one line per value of the others.
From a run: each CPU's cycles by category as stacked bars, and the TLB miss rate over time
(from stats.json's timeseries, recorded with output.sample_interval_cycles).

Exit status: 0 when every plot was written, 1 when one could not be (the message says why),
2 for bad input.
"""
import argparse
import csv
import itertools
import json
import math
import os
import sys

try:
    import matplotlib
except ImportError:
    sys.exit("plot: Python's matplotlib is missing: install Debian's python3-matplotlib "
             "(scripts/plot does)")

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
import matplotlib.ticker  # noqa: E402

# Same input, same bytes: no dates or random ids in the files.
matplotlib.rcParams["svg.hashsalt"] = "mmusim"
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}

# The columns of results.csv around the swept keys (the format is fixed).
LEADING_COLUMNS = ["point", "dir"]
FIRST_STAT_COLUMN = "stop_reason"
DEFAULT_STAT = "tlb_maintenance_cycles_per_cpu"


class InputError(Exception):
    """The input cannot be plotted (exit status 2)."""


# ------------------------------------------------------------------------------------------
# Units


def stat_unit(column):
    if column == "sim_seconds":
        return "s"
    if column == "tlb_miss_rate":
        return "misses per translation"
    if column.endswith("cycles") or "cycles_" in column or column.startswith("shootdown_latency"):
        return "cycles"
    if "pages" in column.split("_"):
        return "pages"
    return "count"


def key_label(key):
    """An axis label for a swept configuration key, with its unit."""
    if key == "platform.cpus":
        return "CPUs (platform.cpus)"
    leaf = key.rsplit(".", 1)[-1]
    for suffix, unit in (("_cycles", "cycles"), ("_pages", "pages"), ("_mhz", "MHz"),
                         ("_bytes", "bytes"), ("_percent", "%"), ("_ppm", "ppm")):
        if leaf.endswith(suffix):
            return f"{key} ({unit})"
    if leaf in ("cpus", "sets", "ways", "sockets"):
        return f"{key} ({leaf})"
    return key


# ------------------------------------------------------------------------------------------
# Output


def save(fig, out_dir, name, written):
    os.makedirs(out_dir, exist_ok=True)
    for ext, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, metadata=metadata, dpi=120 if ext == "png" else None)
        written.append(path)
    plt.close(fig)


def new_figure(title, xlabel, ylabel, width=8.0):
    fig, ax = plt.subplots(figsize=(width, 4.8), layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


# ------------------------------------------------------------------------------------------
# Sweeps (results.csv)


def parse_value(text):
    if text == "":
        return math.nan  # a statistic the point does not have
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_results(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: empty file (expected a header line)") from None
        if header[:2] != LEADING_COLUMNS or FIRST_STAT_COLUMN not in header:
            raise InputError(f"{path}: not a sweep's results.csv (the header must start with "
                             f"'point,dir' and hold '{FIRST_STAT_COLUMN}')")
        swept = header[2:header.index(FIRST_STAT_COLUMN)]
        rows = []
        for number, fields in enumerate(reader, 2):
            if not fields:
                continue
            if len(fields) != len(header):
                raise InputError(f"{path}:{number}: {len(fields)} fields, the header has "
                                 f"{len(header)}")
            rows.append({name: parse_value(value) for name, value in zip(header, fields)})
    if not rows:
        raise InputError(f"{path}: no points")
    return header, swept, rows


def distinct(rows, key):
    values = []
    for row in rows:
        if row[key] not in values:
            values.append(row[key])
    return sorted(values, key=lambda v: (isinstance(v, str), v))


def series(rows, x_key, other_keys):
    """Groups rows into lines: one per combination of the other keys' values, sorted by x."""
    groups = {}
    for row in rows:
        label = ", ".join(f"{key}={row[key]}" for key in other_keys)
        groups.setdefault(label, []).append(row)
    for label in groups:
        groups[label].sort(key=lambda row: (isinstance(row[x_key], str), row[x_key]))
    return sorted(groups.items())


def x_positions(rows, x_key, categories):
    """Numeric x values, or category indices when the key is not numeric."""
    if categories is None:
        return [row[x_key] for row in rows]
    return [categories.index(row[x_key]) for row in rows]


def setup_x_axis(ax, rows, x_key):
    """Log scale for values spanning a factor of 16 or more; a tick per value when there are few;
    category ticks for text."""
    values = distinct(rows, x_key)
    if any(isinstance(v, str) for v in values):
        categories = list(values)
        ax.set_xticks(range(len(categories)), [str(v) for v in categories])
        return categories
    positive = [v for v in values if v > 0]
    if positive and min(values) >= 0 and max(positive) / min(positive) >= 16:
        powers_of_two = all(isinstance(v, int) and v & (v - 1) == 0 for v in positive)
        base = 2 if powers_of_two else 10
        if min(values) > 0:
            ax.set_xscale("log", base=base)
        else:  # zero too: linear up to the smallest positive value, logarithmic above
            ax.set_xscale("symlog", base=base, linthresh=min(positive), linscale=0.5)
    if len(values) <= 12:
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
    return None


def plot_latency_vs_cpus(rows, swept, out_dir, written):
    x_key = "platform.cpus"
    others = [k for k in swept if k != x_key]
    fig, ax = new_figure("Kernel TLB shootdown latency vs CPUs", key_label(x_key),
                         "shootdown latency (cycles)")
    categories = setup_x_axis(ax, rows, x_key)
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for label, group in series(rows, x_key, others):
        colour = next(colours)
        xs = x_positions(group, x_key, categories)
        suffix = f" ({label})" if label else ""
        ax.plot(xs, [r["shootdown_latency_mean"] for r in group], "o-", color=colour,
                label=f"mean{suffix}")
        ax.plot(xs, [r["shootdown_latency_p99"] for r in group], "s--", color=colour,
                label=f"p99{suffix}")
    ax.set_ylim(bottom=0)
    ax.legend()
    save(fig, out_dir, "shootdown_latency_vs_cpus", written)


def per_thousand(count, frees):
    return math.nan if not frees else 1000.0 * count / frees


def plot_flushes_vs_lazy_max_pages(rows, swept, out_dir, written):
    x_key = "vmalloc.lazy_max_pages"
    others = [k for k in swept if k != x_key]
    fig, ax = new_figure("IPIs and full TLB flushes per thousand frees vs lazy_max_pages",
                         key_label(x_key), "events per 1000 frees (count)")
    categories = setup_x_axis(ax, rows, x_key)
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for label, group in series(rows, x_key, others):
        colour = next(colours)
        xs = x_positions(group, x_key, categories)
        suffix = f" ({label})" if label else ""
        ax.plot(xs, [per_thousand(r["ipis_sent"], r["frees"]) for r in group], "o-",
                color=colour, label=f"IPIs sent{suffix}")
        ax.plot(xs, [per_thousand(r["shootdowns_full"], r["frees"]) for r in group], "s--",
                color=colour, label=f"full flushes{suffix}")
    ax.set_ylim(bottom=0)
    ax.legend()
    save(fig, out_dir, "flushes_per_free_vs_lazy_max_pages", written)


def plot_stat_vs_key(rows, swept, stat, out_dir, written):
    x_key = swept[0]
    others = swept[1:]
    fig, ax = new_figure(f"{stat} vs {x_key}", key_label(x_key), f"{stat} ({stat_unit(stat)})")
    categories = setup_x_axis(ax, rows, x_key)
    for label, group in series(rows, x_key, others):
        ax.plot(x_positions(group, x_key, categories), [r[stat] for r in group], "o-",
                label=label or stat)
    ax.legend()
    save(fig, out_dir, f"{stat}_vs_{x_key.replace('.', '_')}", written)


def plot_sweep(path, out_dir, stat, stat_given):
    header, swept, rows = read_results(path)
    if not swept:
        raise InputError(f"{path}: no swept key column between 'dir' and '{FIRST_STAT_COLUMN}': "
                         "nothing to plot against")
    if stat not in header:
        raise InputError(f"{path}: no column '{stat}' (--stat)")
    required = ["shootdown_latency_mean", "shootdown_latency_p99", "ipis_sent",
                "shootdowns_full", "frees"]
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"{path}: no column {', '.join(missing)}")
    written = []
    special = False
    if "platform.cpus" in swept:
        plot_latency_vs_cpus(rows, swept, out_dir, written)
        special = True
    if "vmalloc.lazy_max_pages" in swept:
        plot_flushes_vs_lazy_max_pages(rows, swept, out_dir, written)
        special = True
    if not special or stat_given:
        plot_stat_vs_key(rows, swept, stat, out_dir, written)
    return written, []


# ------------------------------------------------------------------------------------------
# Runs (stats.json)


def plot_cycle_breakdown(stats, out_dir, written):
    per_cpu = stats.get("per_cpu")
    if not per_cpu:
        return "no per-CPU statistics: run with --set output.per_cpu=true for the cycle breakdown"
    # Every category but "busy", which is their sum without idle.
    categories = [c for c in per_cpu[0]["cycles"] if c != "busy"]
    categories = [c for c in categories if any(cpu["cycles"][c] for cpu in per_cpu)]
    cpus = [cpu["cpu"] for cpu in per_cpu]
    fig, ax = new_figure("Cycle breakdown per CPU", "CPU", "cycles",
                         width=max(8.0, min(24.0, 0.25 * len(cpus) + 4)))
    bottoms = [0] * len(cpus)
    colours = plt.get_cmap("tab20").colors
    for i, category in enumerate(categories):
        heights = [cpu["cycles"][category] for cpu in per_cpu]
        ax.bar(cpus, heights, bottom=bottoms, label=category, color=colours[i % len(colours)],
               width=0.8)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    if len(cpus) <= 32:
        ax.set_xticks(cpus)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="category")
    save(fig, out_dir, "cycle_breakdown", written)
    return None


def plot_tlb_miss_rate(stats, out_dir, written):
    timeseries = stats.get("timeseries")
    if not timeseries or not timeseries.get("samples"):
        return ("no timeseries in stats.json: run with --set output.sample_interval_cycles=N "
                "(N cycles per sample) for the TLB miss rate over time")
    samples = timeseries["samples"]
    interval = timeseries["interval_cycles"]
    # Each sample covers the cycles since the previous one (the first, since cycle 0).
    edges = [0] + [s["cycle"] for s in samples]
    rates = [s["tlb_misses"] / s["translations"] if s["translations"] else math.nan
             for s in samples]
    fig, ax = new_figure("TLB miss rate over time", "simulated time (cycles)",
                         "TLB miss rate (misses per translation)")
    # Kernel TLB flushes behind, on a second axis: refills after a flush raise the miss rate.
    flushes = ax.twinx()
    flushes.set_ylabel("kernel TLB flushes started (count per interval)")
    flush_steps = flushes.stairs([s["shootdowns"] for s in samples], edges, fill=True,
                                 color="tab:red", alpha=0.25, label="kernel TLB flushes started")
    flushes.set_ylim(0, max(1, max(s["shootdowns"] for s in samples)) * 1.05)
    flushes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_zorder(flushes.get_zorder() + 1)
    ax.patch.set_visible(False)
    rate_steps = ax.stairs(rates, edges, baseline=None, color="tab:blue", linewidth=1.5,
                           label=f"TLB miss rate (intervals of {interval} cycles)")
    ax.set_xlim(0, edges[-1])
    ax.set_ylim(bottom=0)
    handles = [rate_steps, flush_steps]
    ax.legend(handles, [h.get_label() for h in handles], loc="best")
    save(fig, out_dir, "tlb_miss_rate", written)
    return None


def plot_run(path, out_dir):
    try:
        with open(path, encoding="utf-8") as f:
            stats = json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON: {e}") from None
    if not isinstance(stats, dict) or "sim" not in stats:
        raise InputError(f"{path}: not an mmusim stats.json")
    written = []
    problems = []
    for plot in (plot_cycle_breakdown, plot_tlb_miss_rate):
        problem = plot(stats, out_dir, written)
        if problem:
            problems.append(f"{path}: {problem}")
    return written, problems


# ------------------------------------------------------------------------------------------


def resolve(input_path):
    """(kind, file) of the input: ("sweep", results.csv) or ("run", stats.json)."""
    if os.path.isdir(input_path):
        for name, kind in (("results.csv", "sweep"), ("stats.json", "run")):
            candidate = os.path.join(input_path, name)
            if os.path.isfile(candidate):
                return kind, candidate
        raise InputError(f"{input_path}: holds neither results.csv (a sweep) nor stats.json "
                         "(a run)")
    if not os.path.isfile(input_path):
        raise InputError(f"{input_path}: no such file or folder")
    return ("sweep" if input_path.endswith(".csv") else "run"), input_path


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="results.csv or a sweep's folder; stats.json or a run's "
                        "output folder")
    parser.add_argument("--out", help="where to write the plots (default: INPUT's folder/plots)")
    parser.add_argument("--stat",
                        help=f"the sweep column of the generic plot (default {DEFAULT_STAT}); "
                        "given, that plot is drawn besides the CPU and lazy_max_pages plots")
    args = parser.parse_args()
    try:
        kind, path = resolve(args.input)
        out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(path)), "plots")
        if kind == "sweep":
            written, problems = plot_sweep(path, out_dir, args.stat or DEFAULT_STAT,
                                           args.stat is not None)
        else:
            written, problems = plot_run(path, out_dir)
    except InputError as e:
        print(f"plot: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"plot: {e}", file=sys.stderr)
        return 2
    for file in written:
        print(file)
    for problem in problems:
        print(f"plot: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
