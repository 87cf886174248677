#!/usr/bin/env python3
"""Golden regression tests: each case folder of tests/e2e/golden/ holds a trace (case.trace),
optional configuration overrides (overrides.txt: one KEY=VALUE per line, as `--set` takes them,
'#' comments) and the statistics the replay must reproduce (stats.json, without "host").

    golden_test.py check --binary MMUSIM CASE_DIR     replay the case, compare with its golden
    golden_test.py update --binary MMUSIM CASE_DIR... rewrite the golden files (scripts/update-golden)
    golden_test.py compare EXPECTED.json ACTUAL.json  compare two stats files outside "host"
    golden_test.py self-test CASE_DIR                 the comparator must catch a changed counter

Exit status: 0 same (or done), 1 different, 2 the run or the input failed.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

MAX_SHOWN = 40  # differences printed at most; the rest are counted


def load_stats(path):
    with open(path, encoding="utf-8") as f:
        stats = json.load(f)
    stats.pop("host", None)  # host timing and memory: the only part allowed to differ
    return stats


def golden_text(stats):
    return json.dumps(stats, indent=2, ensure_ascii=False) + "\n"


def pointer(path, key):
    """JSON Pointer (RFC 6901) of a child."""
    return path + "/" + str(key).replace("~", "~0").replace("/", "~1")


def brief(value):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def differences(expected, actual, path=""):
    """Yields (path, description) for every place where the two JSON values differ."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key in actual:
                yield from differences(value, actual[key], pointer(path, key))
            else:
                yield pointer(path, key), f"missing (expected {brief(value)})"
        for key, value in actual.items():
            if key not in expected:
                yield pointer(path, key), f"not in the golden file (actual {brief(value)})"
    elif isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from differences(e, a, pointer(path, i))
        if len(expected) != len(actual):
            yield path or "/", f"expected {len(expected)} items, actual {len(actual)}"
    elif type(expected) is not type(actual) or expected != actual:
        # type() as well: true and 1, or 1 and 1.0, are different statistics.
        yield path or "/", f"expected {brief(expected)}, actual {brief(actual)}"


def report(expected, actual, golden_path):
    """Prints the differences; returns whether there were any."""
    found = list(differences(expected, actual))
    if not found:
        return False
    print(f"{golden_path}: {len(found)} difference{'s' if len(found) != 1 else ''}:")
    for path, what in found[:MAX_SHOWN]:
        print(f"  {path}: {what}")
    if len(found) > MAX_SHOWN:
        print(f"  ... and {len(found) - MAX_SHOWN} more")
    return True


def read_overrides(case_dir):
    path = os.path.join(case_dir, "overrides.txt")
    if not os.path.exists(path):
        return []
    overrides = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"{path}:{number}: expected KEY=VALUE, got '{line}'")
            overrides.append(line)
    return overrides


def replay(binary, case_dir):
    """Runs the case and returns its statistics without "host"."""
    binary = os.path.abspath(binary)  # the run's working folder is the case's
    args = []
    for override in read_overrides(case_dir):
        args += ["--set", override]
    with tempfile.TemporaryDirectory(prefix="mmusim-golden-") as out:
        # From the case's folder with a relative trace path, so that the messages in the
        # statistics (the kernel log names trace lines) are the same in every checkout.
        command = [binary, "replay", "case.trace", "--out", out, "-q"] + args
        run = subprocess.run(command, cwd=case_dir, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} (in {case_dir}) exited with status "
                               f"{run.returncode}:\n{run.stderr}")
        return load_stats(os.path.join(out, "stats.json"))


def check(binary, case_dir):
    golden = os.path.join(case_dir, "stats.json")
    if not os.path.exists(golden):
        print(f"{golden}: no golden file; create it with scripts/update-golden")
        return 2
    if report(load_stats(golden), replay(binary, case_dir), golden):
        print("If the change is intended, regenerate the golden files with scripts/update-golden "
              "and review the diff.")
        return 1
    print(f"{os.path.basename(os.path.normpath(case_dir))}: same statistics as {golden}")
    return 0


def update(binary, case_dirs):
    failed = 0
    for case_dir in case_dirs:
        golden = os.path.join(case_dir, "stats.json")
        try:
            stats = replay(binary, case_dir)
            # A golden file must be reproducible: a second replay has to agree.
            again = replay(binary, case_dir)
        except (RuntimeError, ValueError) as e:
            print(f"{case_dir}: not updated: {e}", file=sys.stderr)
            failed += 1
            continue
        if report(stats, again, f"{case_dir}: two replays differ; not updated"):
            failed += 1
            continue
        text = golden_text(stats)
        old = None
        if os.path.exists(golden):
            with open(golden, encoding="utf-8") as f:
                old = f.read()
        if text == old:
            print(f"{golden}: unchanged")
            continue
        with open(golden + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(golden + ".tmp", golden)
        print(f"{golden}: {'rewritten' if old is not None else 'created'}")
    return 2 if failed else 0


def first_counter(stats, path=""):
    """The pointer and value of the first integer counter (not a boolean) in the statistics."""
    items = stats.items() if isinstance(stats, dict) else enumerate(stats)
    for key, value in items:
        if isinstance(value, (dict, list)):
            found = first_counter(value, pointer(path, key))
            if found:
                return found
        elif isinstance(value, int) and not isinstance(value, bool):
            return pointer(path, key), value
    return None


def set_at(stats, path, value):
    keys = [k.replace("~1", "/").replace("~0", "~") for k in path.split("/")[1:]]
    node = stats
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value


def self_test(case_dir):
    """Runs `compare` on a golden file and a copy with one counter changed: it must fail and
    name that counter's path with both values; on two equal files it must pass."""
    golden = os.path.join(case_dir, "stats.json")
    stats = load_stats(golden)
    # A counter deep in the file, where a wall of JSON would hide it.
    total = stats.get("total")
    path, value = first_counter(total if isinstance(total, dict) else stats,
                                "/total" if isinstance(total, dict) else "")
    changed = copy.deepcopy(stats)
    set_at(changed, path, value + 1)
    me = os.path.abspath(__file__)
    problems = []
    with tempfile.TemporaryDirectory(prefix="mmusim-golden-self-test-") as tmp:
        changed_path = os.path.join(tmp, "changed.json")
        with open(changed_path, "w", encoding="utf-8") as f:
            f.write(golden_text(changed))
        run = subprocess.run([sys.executable, me, "compare", golden, changed_path],
                             capture_output=True, text=True)
        expected_line = f"  {path}: expected {value}, actual {value + 1}"
        if run.returncode != 1:
            problems.append(f"compare exited with {run.returncode} on a changed counter, not 1")
        if expected_line not in run.stdout.splitlines():
            problems.append(f"compare did not print '{expected_line.strip()}'")
        if "1 difference:" not in run.stdout:
            problems.append("compare did not count exactly one difference")
        same = subprocess.run([sys.executable, me, "compare", golden, golden],
                              capture_output=True, text=True)
        if same.returncode != 0:
            problems.append(f"compare exited with {same.returncode} on equal files, not 0")
    print(run.stdout, end="")
    for problem in problems:
        print(f"self-test: {problem}")
    if not problems:
        print(f"self-test: the comparator names the changed counter {path}")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser("check", help="replay a case and compare with its golden")
    check_cmd.add_argument("--binary", required=True)
    check_cmd.add_argument("case_dir")
    update_cmd = commands.add_parser("update", help="rewrite the golden files of cases")
    update_cmd.add_argument("--binary", required=True)
    update_cmd.add_argument("case_dirs", nargs="+")
    compare_cmd = commands.add_parser("compare", help="compare two stats.json files")
    compare_cmd.add_argument("expected")
    compare_cmd.add_argument("actual")
    self_cmd = commands.add_parser("self-test", help="the comparator catches a changed counter")
    self_cmd.add_argument("case_dir")
    args = parser.parse_args()

    try:
        if args.command == "check":
            return check(args.binary, args.case_dir)
        if args.command == "update":
            return update(args.binary, args.case_dirs)
        if args.command == "compare":
            return 1 if report(load_stats(args.expected), load_stats(args.actual),
                               args.expected) else 0
        return self_test(args.case_dir)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"golden_test.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
