"""Batch keyword-to-sentence on an idle machine and beside a busy process, per thread policy.

    python scripts/bench_threads.py [--sets N] [--busy N] [--data dev.jsonl]

The same concept sets run through the command (`textsearch keywords --input … --output …`)
in a subprocess, under three policies, each idle and with `--busy` competing processes
that spin on a core:
  default      the command's own policy (threads = cores other processes leave idle);
  one          OMP_NUM_THREADS=1;
  all-cores    --threads equal to the cores this process may use (torch's own default).
Seconds per run (model load included), and whether each policy's sentences equal the
one-thread run's. Policies run in turn within each condition, so the machine's drift
falls on all of them alike. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "commongen" / "dev.jsonl"
SPIN = "while True: pass"


def run_once(sets: Path, policy: str, folder: Path) -> tuple[float, list[str]]:
    out = folder / f"{policy}-{time.monotonic_ns()}.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    argv = [sys.executable, "-m", "textsearch.cli", "keywords", "--input", str(sets), "--output", str(out)]
    if policy == "one":
        env["OMP_NUM_THREADS"] = "1"
    elif policy == "all-cores":
        argv += ["--threads", str(len(os.sched_getaffinity(0)))]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{policy}: the command failed: {done.stderr.strip().splitlines()[-1]}")
    return seconds, [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=4, help="concept sets (the first N of the data)")
    parser.add_argument("--busy", type=int, default=1, help="competing processes, each spinning on a core")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as handle:
        concept_sets = [json.loads(line)["concept_set"] for line in handle][: args.sets]
    table = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        sets = folder / "sets.txt"
        sets.write_text("".join(s.replace("#", " ") + "\n" for s in concept_sets), encoding="utf-8")
        run_once(sets, "one", folder)                        # warm the model cache and the page cache
        for condition in ("idle", "busy"):
            spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy if condition == "busy" else 0)]
            try:
                time.sleep(1.0 if spinners else 0.0)
                for policy in ("default", "one", "all-cores"):
                    seconds, texts = run_once(sets, policy, folder)
                    table.setdefault(condition, {})[policy] = {"seconds": round(seconds, 1), "texts": texts}
            finally:
                for spinner in spinners:
                    spinner.kill()
                    spinner.wait()
    print(f"{len(concept_sets)} sets, {len(os.sched_getaffinity(0))} cores, busy = {args.busy} spinning process(es)")
    print(f"{'condition':<10}{'default':>10}{'one':>10}{'all-cores':>11}   default/one   same sentences as one")
    summary = {}
    for condition, rows in table.items():
        one = rows["one"]
        same = {p: rows[p]["texts"] == one["texts"] for p in rows}
        ratio = rows["default"]["seconds"] / one["seconds"]
        print(f"{condition:<10}{rows['default']['seconds']:>10}{one['seconds']:>10}{rows['all-cores']['seconds']:>11}"
              f"   {ratio:>11.2f}   {same}")
        summary[condition] = {p: r["seconds"] for p, r in rows.items()} | {"default_over_one": round(ratio, 2),
                                                                            "same_as_one": same}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
