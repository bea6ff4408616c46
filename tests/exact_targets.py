"""The exactness checks the sampler tests share: `textsearch.testing`, printed, plus a fixture.

The tolerances are derived in `textsearch.testing`; run a test with `-s` to see each
check's TV distance and sample size.
"""
from __future__ import annotations

import functools

import pytest
import torch

from textsearch import testing
from textsearch.testing import all_sequences, chain_energies, exact_distribution, random_table, table_objective  # noqa: F401


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Every tensor here is tiny: extra intra-op threads only add overhead (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def printed(check_function):
    @functools.wraps(check_function)
    def run(*args, **kwargs) -> testing.Check:
        check = check_function(*args, **kwargs)
        print(check)
        return check
    return run


compare = printed(testing.compare)
check_markov = printed(testing.check_markov)
check_weighted = printed(testing.check_weighted)
check_invariance = printed(testing.check_invariance)
