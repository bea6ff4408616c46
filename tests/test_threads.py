"""The thread policy: as many threads as cores that other processes leave idle, and the caller's
setting restored."""
from __future__ import annotations

import torch

from textsearch import threads


def cores_with(readings, cpus=2):
    """IdleCores whose /proc/stat readings are (busy, total, own) CPU-seconds in this order."""
    cores = threads.IdleCores.__new__(threads.IdleCores)
    cores.cpus = list(range(cpus))
    feed = iter(readings)
    cores.read = lambda: next(feed)
    cores.mark = cores.read()
    return cores


def test_free_cores_leave_out_what_others_use_and_count_our_own_as_free():
    # 1 s on 2 cores: others busy for 1 core-second -> 1 free core
    assert cores_with([(0, 0, 0), (1.0, 2.0, 0.0)]).free() == 1
    # busy 2 core-seconds, all of them ours -> both cores are ours to use
    assert cores_with([(0, 0, 0), (2.0, 2.0, 2.0)]).free() == 2
    # an idle machine, a little noise -> both
    assert cores_with([(0, 0, 0), (0.1, 2.0, 0.0)]).free() == 2
    # both cores taken by others -> still one thread
    assert cores_with([(0, 0, 0), (2.0, 2.0, 0.0)]).free() == 1
    # each call measures from the previous one
    cores = cores_with([(0, 0, 0), (1.0, 2.0, 0.0), (1.1, 4.0, 0.0)])
    assert [cores.free(), cores.free()] == [1, 2]


def test_a_half_busy_core_is_not_counted_free():
    assert cores_with([(0, 0, 0), (0.5, 2.0, 0.0)]).free() == 1


def test_the_policy_sets_threads_in_its_block_and_restores_them(monkeypatch):
    before = torch.get_num_threads()
    with threads.thread_policy(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(3)                                # no idle-core count gives 3 here
    try:
        with threads.thread_policy(None) as adapt:          # the user chose: left alone
            adapt()
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_the_real_counters_read_as_cpu_seconds():
    if not threads.measurable():
        import pytest
        pytest.skip("no /proc/stat here")
    cores = threads.IdleCores(settle=0.05)
    busy, total, own = cores.read()
    assert 0 <= busy <= total and own >= 0
    assert 1 <= cores.free() <= len(cores.cpus)
