"""Packing rows into forwards: every row once, the budget kept, padding traded against passes."""
import random

import pytest

from textsearch.lm.packing import pack


def padded_cost(widths, chunks, overhead):
    return sum(overhead + len(c) * max(widths[i] for i in c) for c in chunks)


@pytest.mark.parametrize("seed", range(5))
def test_every_row_once_within_the_budget(seed):
    rng = random.Random(seed)
    widths = [rng.randrange(1, 40) for _ in range(rng.randrange(1, 120))]
    budget = rng.choice([1, 30, 200, 5000])
    chunks = pack(widths, budget, overhead=rng.choice([0, 16, 4096]))
    assert sorted(i for c in chunks for i in c) == list(range(len(widths)))
    for chunk in chunks:
        assert len(chunk) == 1 or len(chunk) * max(widths[i] for i in chunk) <= budget


def test_cheap_passes_cut_padding_and_dear_passes_fill_them():
    widths = [30] * 4 + [5] * 20
    assert sorted(map(len, pack(widths, 10_000, overhead=0))) == [4, 20]        # no padding at all
    assert [len(c) for c in pack(widths, 10_000, overhead=10_000)] == [24]       # one pass
    assert padded_cost(widths, pack(widths, 10_000, 16), 16) == 16 * 2 + 4 * 30 + 20 * 5


def test_optimal_against_brute_force_on_small_cases():
    rng = random.Random(7)
    for _ in range(30):
        widths = sorted((rng.randrange(1, 12) for _ in range(rng.randrange(1, 7))), reverse=True)
        budget, overhead = rng.choice([12, 40, 1000]), rng.choice([0, 5, 50])
        best = min(padded_cost(widths, c, overhead) for c in splits(list(range(len(widths))))
                   if all(len(x) == 1 or len(x) * widths[x[0]] <= budget for x in c))
        assert padded_cost(widths, pack(widths, budget, overhead), overhead) == best


def splits(rows):
    """Every way to cut a sorted list into consecutive runs."""
    if not rows:
        yield []
        return
    for k in range(1, len(rows) + 1):
        for rest in splits(rows[k:]):
            yield [rows[:k]] + rest
