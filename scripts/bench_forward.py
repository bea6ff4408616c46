"""Load time, peak memory and raw scoring throughput of a language model.

    python scripts/bench_forward.py [--model smollm2-135m] [--use-cache]

Loads are timed in fresh subprocesses: the first into an empty temporary cache (the
one-off GGUF conversion), the second from that cache. Throughput counts scored tokens
per second of `token_log_probs` (forward pass + log-softmax) on random token ids, one
forward per batch, both per wall-clock second and per CPU second of this process (the
second is the steadier figure on a machine shared with other work). The last line
printed is the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

LOAD_PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
import textsearch as ts
t1 = time.perf_counter()
lm = ts.load_lm(sys.argv[1], device=sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed_load(model: str, device: str, cache: str | None) -> dict:
    env = dict(os.environ, **({"TEXTSEARCH_CACHE": cache} if cache else {}))
    out = subprocess.run([sys.executable, "-c", LOAD_PROBE, model, device], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def throughput(lm, batch: int, length: int, repeats: int) -> dict:
    import torch
    ids = torch.randint(0, lm.vocab_size, (batch, length), generator=torch.Generator().manual_seed(0)).tolist()
    lm.token_log_probs(ids)                                    # warm-up
    wall = cpu = float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        lm.token_log_probs(ids)
        wall = min(wall, time.perf_counter() - wall_start)
        cpu = min(cpu, time.process_time() - cpu_start)
    return {"batch": batch, "length": length, "tokens_per_s": batch * length / wall,
            "tokens_per_cpu_s": batch * length / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--use-cache", action="store_true",
                        help="skip the conversion timing and load from the usual cache")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        cache = None if args.use_cache else scratch
        first = None if args.use_cache else timed_load(args.model, args.device, cache)
        cached = timed_load(args.model, args.device, cache)
        if cache:
            os.environ["TEXTSEARCH_CACHE"] = cache
        import torch
        import textsearch as ts
        if args.threads:
            torch.set_num_threads(args.threads)
        lm = ts.load_lm(args.model, device=args.device)
        lm.token_budget = max(args.batches) * (max(args.lengths) + 1)      # one forward per batch
        rows = [throughput(lm, b, n, args.repeats) for n in args.lengths for b in args.batches]

    print(f"model {args.model} on {lm.device}, {torch.get_num_threads()} threads")
    if first:
        print(f"first load (conversion): {first['load_s']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB")
    print(f"cached load:             {cached['load_s']:.1f} s (+{cached['import_s']:.1f} s import), "
          f"peak RSS {cached['peak_rss_mb']:.0f} MB")
    print(f"{'batch':>6} {'length':>7} {'tokens/s':>10} {'tokens/cpu-s':>13}")
    for row in rows:
        print(f"{row['batch']:>6} {row['length']:>7} {row['tokens_per_s']:>10.0f} {row['tokens_per_cpu_s']:>13.0f}")
    print(json.dumps({"model": args.model, "device": str(lm.device), "threads": torch.get_num_threads(),
                      "first_load": first, "cached_load": cached, "throughput": rows}))


if __name__ == "__main__":
    main()
