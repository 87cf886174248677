#!/usr/bin/env python3
"""scripts/plot.py renders every plot from the fixtures of this folder: each file it should
write exists, PNGs start with the PNG signature and SVGs are SVG documents holding the plot's
title and axis labels. Exit status 77 (skipped) when matplotlib cannot be imported."""
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "plot.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"
SKIPPED = 77


def svg_text(path):
    """Every text the SVG shows (matplotlib keeps text as <text> with svg.fonttype none)."""
    root = ElementTree.parse(path).getroot()
    return root.tag, {"".join(node.itertext()).strip() for node in root.iter()
                      if node.tag.endswith("}text")}


class Plot(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mmusim-plot-test-")
        self.addCleanup(self.tmp.cleanup)

    def plot(self, fixture, *args):
        out = os.path.join(self.tmp.name, fixture)
        run = subprocess.run([sys.executable, PLOT, os.path.join(HERE, fixture), "--out", out,
                              *args], capture_output=True, text=True)
        return run, out

    def check_outputs(self, out, expected):
        """`expected`: plot name -> texts its SVG must show."""
        names = sorted(f"{name}.{ext}" for name in expected for ext in ("png", "svg"))
        self.assertEqual(sorted(os.listdir(out)), names)
        for name, texts in expected.items():
            with open(os.path.join(out, f"{name}.png"), "rb") as f:
                self.assertEqual(f.read(8), PNG_SIGNATURE, f"{name}.png")
            with open(os.path.join(out, f"{name}.svg"), "rb") as f:
                self.assertTrue(f.read(5) == b"<?xml", f"{name}.svg has no XML declaration")
            tag, shown = svg_text(os.path.join(out, f"{name}.svg"))
            self.assertEqual(tag, SVG_ROOT, f"{name}.svg")
            for text in texts:
                self.assertIn(text, shown, f"{name}.svg")

    def test_shootdown_latency_vs_cpus(self):
        run, out = self.plot("sweep_cpus")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {"shootdown_latency_vs_cpus": [
            "Kernel TLB shootdown latency vs CPUs", "CPUs (platform.cpus)",
            "shootdown latency (cycles)", "mean (flush.mechanism=ipi)",
            "p99 (flush.mechanism=invlpgb)"]})

    def test_flushes_per_free_vs_lazy_max_pages(self):
        run, out = self.plot("sweep_lazy")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {"flushes_per_free_vs_lazy_max_pages": [
            "IPIs and full TLB flushes per thousand frees vs lazy_max_pages",
            "vmalloc.lazy_max_pages (pages)", "events per 1000 frees (count)", "IPIs sent",
            "full flushes", "32768"]})

    def test_generic_stat_vs_swept_key(self):
        run, out = self.plot("sweep_generic")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {"tlb_maintenance_cycles_per_cpu_vs_tlb_stlb_ways": [
            "tlb_maintenance_cycles_per_cpu vs tlb.stlb.ways", "tlb.stlb.ways (ways)",
            "tlb_maintenance_cycles_per_cpu (cycles)", "mmu.pcid=true", "mmu.pcid=false"]})

    def test_generic_plot_of_another_stat(self):
        run, out = self.plot("sweep_generic", "--stat", "tlb_miss_rate")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {"tlb_miss_rate_vs_tlb_stlb_ways": [
            "tlb_miss_rate (misses per translation)"]})

    def test_stat_given_is_plotted_besides_the_cpus_plot(self):
        run, out = self.plot("sweep_cpus", "--stat", "ipis_sent")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {
            "shootdown_latency_vs_cpus": ["Kernel TLB shootdown latency vs CPUs"],
            "ipis_sent_vs_platform_cpus": ["ipis_sent vs platform.cpus", "CPUs (platform.cpus)",
                                           "ipis_sent (count)", "flush.mechanism=ipi",
                                           "flush.mechanism=invlpgb"]})

    def test_run_folder(self):
        run, out = self.plot("run")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.check_outputs(out, {
            "cycle_breakdown": ["Cycle breakdown per CPU", "CPU", "cycles", "flush_spin",
                                "idle_wakeup", "idle"],
            "tlb_miss_rate": ["TLB miss rate over time", "simulated time (cycles)",
                              "TLB miss rate (misses per translation)",
                              "TLB miss rate (intervals of 4000 cycles)",
                              "kernel TLB flushes started"]})

    def test_run_without_timeseries_names_the_key(self):
        run, out = self.plot("run_without_timeseries")
        self.assertEqual(run.returncode, 1)
        self.assertIn("no timeseries in stats.json", run.stderr)
        self.assertIn("--set output.sample_interval_cycles=N", run.stderr)
        self.check_outputs(out, {"cycle_breakdown": ["Cycle breakdown per CPU"]})

    def test_same_input_same_files(self):
        first, out_first = self.plot("run")
        second = subprocess.run([sys.executable, PLOT, os.path.join(HERE, "run"), "--out",
                                 out_first + "-again"], capture_output=True, text=True)
        self.assertEqual((first.returncode, second.returncode), (0, 0))
        for name in os.listdir(out_first):
            with open(os.path.join(out_first, name), "rb") as a, \
                    open(os.path.join(out_first + "-again", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)

    def test_bad_inputs(self):
        missing = subprocess.run([sys.executable, PLOT, os.path.join(self.tmp.name, "nothing")],
                                 capture_output=True, text=True)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("no such file or folder", missing.stderr)
        unswept = os.path.join(self.tmp.name, "results.csv")
        with open(os.path.join(HERE, "sweep_lazy", "results.csv"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        with open(unswept, "w", encoding="utf-8") as f:
            # The swept column removed: nothing to plot against.
            f.write("\n".join(",".join(line.split(",")[:2] + line.split(",")[3:])
                              for line in lines) + "\n")
        run = subprocess.run([sys.executable, PLOT, unswept], capture_output=True, text=True)
        self.assertEqual(run.returncode, 2)
        self.assertIn("no swept key column", run.stderr)


if __name__ == "__main__":
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(f"SKIPPED: {sys.executable} cannot import matplotlib (install Debian's "
              "python3-matplotlib, or run scripts/plot once, which does)")
        sys.exit(SKIPPED)
    unittest.main()
