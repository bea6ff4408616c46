"""How many CPU threads a run should use: the cores that other processes leave idle.

torch starts one thread per core, and at the end of every parallel operation each
thread waits for the others. When another process holds a core, the thread that
shares it waits for its time slice, and so does every operation: on a 2-core machine
with one busy process beside it, a keyword batch ran about 4× slower on two threads
than on one (scripts/bench_threads.py). So the command measures the idle share of its
cores (Linux's /proc/stat, less the time this process itself used) and runs on that
many threads, at least one, measuring again between packs of a batch. Where
/proc/stat does not exist, or the user chose (OMP_NUM_THREADS, --threads), the
setting is left alone.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

STAT = "/proc/stat"
SPARE = 0.2          # a core counts as free once at most 80% of it is in others' use: a shared core costs more


class IdleCores:
    """`free()`: the cores of this process's affinity set that others left idle since the last call."""

    def __init__(self, settle: float = 0.2):
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.mark = self.read()
        time.sleep(settle)                       # a first interval to measure over

    def read(self) -> tuple[float, float, float]:
        """(busy, total) CPU-seconds of our cores since boot, and this process's own CPU-seconds."""
        tick = os.sysconf("SC_CLK_TCK")
        busy = total = 0.0
        with open(STAT, encoding="ascii") as handle:
            for line in handle:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in self.cpus:
                    values = [int(v) for v in fields[:8]]
                    idle = values[3] + values[4]              # idle, iowait
                    busy += (sum(values) - idle) / tick
                    total += sum(values) / tick
        own = os.times()
        return busy, total, own.user + own.system

    def free(self) -> int:
        busy, total, own = self.read()
        (busy0, total0, own0), self.mark = self.mark, (busy, total, own)
        if total - total0 <= 0:
            return len(self.cpus)
        others = max(0.0, (busy - busy0) - (own - own0)) / (total - total0) * len(self.cpus)
        return max(1, min(len(self.cpus), math.floor(len(self.cpus) - others + SPARE)))


def measurable() -> bool:
    return os.path.exists(STAT) and hasattr(os, "sched_getaffinity")


@contextmanager
def thread_policy(threads: int | None) -> Iterator[Callable[[], None]]:
    """Within the block torch uses `threads` threads, or with None as many as there are idle cores
    (when measurable and neither OMP_NUM_THREADS nor MKL_NUM_THREADS is set), at most torch's own; yields `adapt()`, which measures again and
    follows. The caller's setting is back after the block."""
    before = torch.get_num_threads()
    chosen = {"OMP_NUM_THREADS", "MKL_NUM_THREADS"} & set(os.environ)
    cores = IdleCores() if threads is None and measurable() and not chosen else None

    def adapt() -> None:
        if cores is not None:                     # never more than torch's own (physical cores)
            torch.set_num_threads(min(before, cores.free()))

    try:
        if threads is not None:
            torch.set_num_threads(threads)
        adapt()
        yield adapt
    finally:
        torch.set_num_threads(before)
