"""Energies a user's function may return by mistake: −inf, nothing, text, forbidden everywhere.
Each gets the project's one-line message, or a warning, instead of a failure deep in a sampler."""
from __future__ import annotations

import math

import pytest

import textsearch as ts


def run(fn, steps: int = 10):
    sampler = ts.samplers.MetropolisHastings(ts.proposals.UniformReplace(5), steps=steps, seed=0)
    return sampler.run(ts.objectives.FromFunction(fn), init=[[0, 1, 2]], progress=False)


def test_minus_infinity_says_what_to_return_instead():
    with pytest.raises(ValueError, match=r"returned -inf energies.*return a finite number, or math.inf"):
        run(lambda tokens: [-math.inf] * len(tokens))


@pytest.mark.parametrize("returned, kind", [(None, "NoneType"), ("low", "str"), ([["a"]], "list")])
def test_a_non_numeric_return_names_what_came_back(returned, kind):
    with pytest.raises(TypeError, match=f"must return one number per sequence .*got {kind}"):
        run(lambda tokens: returned)


def test_a_run_where_no_state_meets_the_constraints_warns_with_the_count():
    with pytest.warns(RuntimeWarning, match=r"no state met the constraints: all \d+ states scored had energy inf"):
        result = run(lambda tokens: [math.inf] * len(tokens))
    assert math.isinf(result.best.energy)


def test_a_run_that_finds_an_allowed_state_does_not_warn(recwarn):
    result = run(lambda tokens: [0.0 if t[0] == 3 else math.inf for t in tokens], steps=200)
    assert result.best.energy == 0.0
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
