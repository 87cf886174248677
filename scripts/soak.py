#!/usr/bin/env python3
"""The soak's rounds (scripts/soak runs them): one configuration per seed, and the verdict on
what a round's run wrote.

    soak.py config SEED FILE [--scale S]   write round SEED's configuration to FILE, print a
                                           one-line description of it
    soak.py check STATS CONFIG STATUS      judge a round from its stats.json, the configuration
                                           and mmusim's exit status; print one line "ok ..." or
                                           "FAIL reason..." (exit status 1 on failure)

A round is 64 CPUs running a seeded random mix: test_vmalloc with a random run_test_mask, or the
scenarios (vmap_stack, module_load, bpf_jit, xfs_buf, ring_buffer) with random weights, with or
without a background working set, under random flush policies (lazy_max_pages mode and value,
IPIs or INVLPGB, the single-page flush ceiling, vm_unmap_aliases 4.19 or 6.5, vmap block size,
5-level paging, PCIDs, KASLR, DEBUG_PAGEALLOC, quantum, topology, page allocation fault
injection), with sanitizer.check_invariants_after_purge on. The same seed always gives the same
configuration (Python's random.Random is stable across versions for these calls).
"""
import json
import random
import sys


def round_config(seed, scale):
    rng = random.Random(seed)
    pick = rng.choice
    cfg = {
        "description": f"soak round {seed}",
        "platform": {"cpus": 64, "topology": {"sockets": pick([1, 2, 4])}},
        "mmu": {"paging_levels": pick([4, 4, 5]), "pcid": pick([True, False])},
        "flush": {
            "mechanism": pick(["ipi", "ipi", "invlpgb"]),
            "single_page_flush_ceiling": pick([0, 1, 8, 33, 33, 512]),
            "ipi_mode": pick(["cluster", "physical", "shorthand"]),
        },
        "vmalloc": {
            "lazy_max_pages_mode": pick(["linux", "fixed", "fixed"]),
            "lazy_max_pages": pick([0, 1, 16, 64, 256, 1024, 8192]),
            "vm_unmap_aliases": pick(["4.19", "6.5"]),
            "nr_cpus": pick([64, 1024, 4096, 8192]),
            "debug_pagealloc": rng.random() < 0.1,
            "kaslr": rng.random() < 0.3,
        },
        "run": {"seed": seed, "quantum_cycles": pick([0, 100, 300, 300, 1000])},
        "sanitizer": {"check_invariants_after_purge": True},
        "output": {"per_cpu": False},
    }
    if rng.random() < 0.15:
        cfg["vmalloc"]["page_alloc"] = {"fail_ppm": pick([100, 1000, 10000])}
    workload = {}
    if rng.random() < 0.35:
        mask = 0
        while mask == 0:
            # Not align_shift_alloc_test (64): in 4.19 its largest alignments wrap past zero
            # and BUG in alloc_vmap_area() with the area left in the tree (as modelled).
            for bit in (1, 2, 4, 8, 16, 32, 128, 1024):
                if rng.random() < 0.4:
                    mask |= bit
        threads = pick([0, 0, 1, 8, 32])
        if mask & (2 | 4 | 128):
            # full_fit_alloc_test, long_busy_list_alloc_test and pcpu_alloc_test make tens of
            # thousands of areas whatever test_loop_count is: one thread, and purges as rare
            # as Linux's, or every check walks them all thousands of times.
            threads = 1
            cfg["vmalloc"]["lazy_max_pages_mode"] = "linux"
        workload = {
            "kind": "test_vmalloc",
            "test_vmalloc": {
                "run_test_mask": mask,
                "test_loop_count": max(1, int(rng.randint(2, 12) * scale)),
                "test_repeat_count": 1,
                "nr_threads": threads,
                "sequential_test_order": rng.random() < 0.3,
            },
        }
    else:
        weights = {}
        for name in ("vmap_stack", "module_load", "bpf_jit", "xfs_buf", "ring_buffer"):
            weights[name] = pick([0, 1, 2, 4, 8])
        if sum(weights.values()) == 0:
            weights[pick(list(weights))] = 1
        scenarios = {"iterations_per_cpu": max(1, int(rng.randint(2, 12) * scale))}
        for name, weight in weights.items():
            scenarios[name] = {"weight": weight}
        if rng.random() < 0.5:
            low = pick([2, 4, 16])
            scenarios["xfs_buf"]["pages"] = {"min": low, "max": pick([low, 64, 128])}
        workload = {"kind": "scenarios", "scenarios": scenarios}
    if rng.random() < 0.5:
        workload["background"] = {"pages": pick([64, 256, 1024]), "hot_pages": 16}
    cfg["workload"] = workload
    return cfg


def describe(cfg):
    w = cfg["workload"]
    v = cfg["vmalloc"]
    if w["kind"] == "test_vmalloc":
        what = (f"test_vmalloc mask={w['test_vmalloc']['run_test_mask']} "
                f"loops={w['test_vmalloc']['test_loop_count']}")
    else:
        s = w["scenarios"]
        mix = ",".join(f"{k}={s[k]['weight']}" for k in
                       ("vmap_stack", "module_load", "bpf_jit", "xfs_buf", "ring_buffer"))
        what = f"scenarios x{s['iterations_per_cpu']} {mix}"
    if "background" in w:
        what += f" +background {w['background']['pages']}"
    lazy = ("linux" if v["lazy_max_pages_mode"] == "linux"
            else f"fixed {v['lazy_max_pages']}")
    return (f"{what}; lazy {lazy}, aliases {v['vm_unmap_aliases']}, "
            f"{cfg['flush']['mechanism']} ceiling {cfg['flush']['single_page_flush_ceiling']}, "
            f"nr_cpus {v['nr_cpus']}")


def check(stats_path, config_path, status):
    def fail(reason):
        print("FAIL " + reason)
        return 1

    if status != 0:
        return fail(f"mmusim exited with status {status}")
    try:
        with open(stats_path, encoding="utf-8") as f:
            stats = json.load(f)
    except (OSError, ValueError) as e:
        return fail(f"no readable stats.json ({e})")
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    san = stats.get("sanitizer", {})
    vm = stats.get("vmalloc", {})
    kernel = stats.get("kernel", {})
    ops = stats["sim"]["ops"]
    purges = vm.get("purges", 0)
    checks = san.get("invariant_checks", 0)
    line = f"ops={ops} purges={purges} checks={checks}"
    reasons = []
    if stats["sim"]["stop_reason"] != "completed":
        reasons.append(f"stop_reason {stats['sim']['stop_reason']}: {stats['sim']['stop_detail']}")
    if "invariant_violations" not in san:
        reasons.append("no invariant statistics (sanitizer.check_invariants_after_purge ignored?)")
    elif san["invariant_violations"] != 0:
        reasons.append(f"{san['invariant_violations']} invariant violations: " +
                       " | ".join(san.get("invariant_messages", [])[:5]))
    if san.get("teardown", "checked") != "checked" and vm:
        reasons.append(f"teardown {san.get('teardown')}")
    if san.get("va_reuse_with_stale_tlb", 0) != 0:
        reasons.append(f"sanitizer.va_reuse_with_stale_tlb = {san['va_reuse_with_stale_tlb']} "
                       f"(vm_unmap_aliases {cfg['vmalloc']['vm_unmap_aliases']})")
    # With page allocations failing on purpose, the generated ops go on using the NULL a
    # failed vm_map_ram() or vmalloc() returned (they are generated ahead): the kernel's
    # BUG_ON(!addr) and friends are expected there, and only there.
    injected = cfg["vmalloc"].get("page_alloc", {}).get("fail_ppm", 0) != 0
    if not injected and (kernel.get("bugs", 0) != 0 or kernel.get("warnings", 0) != 0):
        reasons.append(f"kernel bugs {kernel.get('bugs')} warnings {kernel.get('warnings')}: " +
                       " | ".join(kernel.get("log", [])[:3]))
    if reasons:
        return fail("; ".join(reasons) + f" ({line})")
    print(f"ok {line} stale_hits={san.get('stale_tlb_hits', 0)}")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "config":
        scale = 1.0
        if len(argv) == 5 and argv[3] == "--scale":
            scale = float(argv[4])
        cfg = round_config(int(argv[1]), scale)
        with open(argv[2], "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        print(describe(cfg))
        return 0
    if len(argv) == 4 and argv[0] == "check":
        return check(argv[1], argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
