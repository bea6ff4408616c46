"""Lockstep: searches take turns one at a time, and their model calls run as one."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from conftest import make_tiny_lm

from textsearch.tasks.keywords import KeywordsToSentence
from textsearch.lm.lockstep import Lockstep


def recording_combine(rounds: list):
    def combine(requests):
        rounds.append(list(requests))
        return [f"answer to {r}" for r in requests]
    return combine


def test_each_round_answers_every_waiting_search_in_one_call():
    rounds: list = []
    turns = Lockstep(recording_combine(rounds))

    def search(name: str, asks: int):
        return [turns.ask(f"{name}{k}") for k in range(asks)]

    results = turns.run([lambda: search("a", 3), lambda: search("b", 1), lambda: search("c", 2)])
    assert results == [[f"answer to a{k}" for k in range(3)], ["answer to b0"], ["answer to c0", "answer to c1"]]
    assert rounds == [["a0", "b0", "c0"], ["a1", "c1"], ["a2"]]


def test_requests_that_go_first_are_answered_while_the_others_wait():
    """A search whose step asked for no forward falls a request behind: its next forward still joins
    the others' once its cheap requests are answered first."""
    rounds: list = []
    turns = Lockstep(recording_combine(rounds), first=lambda request: request.startswith("after"))

    def search():
        for k in range(2):
            turns.ask(f"after a{k}")
            turns.ask(f"rows a{k}")

    def one_step_scored_before():
        turns.ask("after b0")                       # its candidates were all scored: no rows
        turns.ask("after b1")
        turns.ask("rows b1")

    turns.run([search, one_step_scored_before])
    assert rounds == [["after a0", "after b0"], ["after b1"], ["rows a0", "rows b1"], ["after a1"], ["rows a1"]]


def test_one_search_runs_at_a_time_in_a_fixed_order():
    events: list = []
    running = [0]
    turns = Lockstep(lambda requests: requests)

    def search(name: str):
        for k in range(3):
            running[0] += 1
            assert running[0] == 1, "two searches ran at once"
            time.sleep(0.002)
            events.append((name, k))
            running[0] -= 1
            turns.ask(k)

    turns.run([lambda n=n: search(n) for n in "abcd"])
    assert events == [(n, k) for k in range(3) for n in "abcd"]


def test_searches_run_on_one_cpu_thread_and_the_model_calls_on_all():
    seen: dict = {"searches": [], "combine": []}
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        def combine(requests):
            seen["combine"].append(torch.get_num_threads())
            return requests

        turns = Lockstep(combine)

        def search():
            for k in range(2):
                seen["searches"].append(torch.get_num_threads())
                turns.ask(k)
            seen["searches"].append(torch.get_num_threads())

        turns.run([search, search, search])
        assert seen == {"searches": [1] * 9, "combine": [2, 2]}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_a_failing_search_is_raised_and_the_others_stop():
    reached: list = []
    turns = Lockstep(lambda requests: requests)

    def good():
        turns.ask(1)
        reached.append("after the failure")          # never: the round that follows the failure does not run

    def bad():
        raise RuntimeError("search failed")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="search failed"):
        turns.run([good, bad, good])
    assert reached == [] and threading.active_count() == before


def test_a_failing_combine_is_raised_and_every_search_stops():
    turns = Lockstep(lambda requests: 1 / 0)
    before = threading.active_count()
    with pytest.raises(ZeroDivisionError):
        turns.run([lambda: turns.ask(1), lambda: turns.ask(2)])
    assert threading.active_count() == before


def test_searches_taking_turns_score_as_alone_in_one_forward():
    lm = make_tiny_lm(seed=5)
    rows = [[[5, 6, 7], [5, 6, 8]], [[9, 9]], [[5, 6, 7], [10]]]       # one row asked twice, by two searches
    alone = [lm.token_log_probs(r) for r in rows]
    start = lm.stats.forwards
    with lm.taking_turns() as turns:
        together = turns.run([lambda r=r: lm.token_log_probs(r) for r in rows])
    assert lm.stats.forwards == start + 1
    for got, expected in zip(together, alone):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(got, expected))


def test_searches_taking_turns_ask_for_distributions_in_one_head_call():
    lm = make_tiny_lm(seed=5)
    prefixes = [[[5, 6], [5]], [[9, 9, 7]], [[10], [5, 6]]]
    with lm.session():
        lm.token_log_probs([p for group in prefixes for p in group])            # held: no forward is needed
        alone = [lm.next_token_log_probs(p) for p in prefixes]
        forwards, heads = [], []
        hooks = [lm.model.register_forward_pre_hook(lambda *args: forwards.append(1)),
                 lm.model.get_output_embeddings().register_forward_pre_hook(lambda *args: heads.append(1))]
        lm.store.last_after = {}                                                # nothing remembered from `alone`
        try:
            with lm.taking_turns() as turns:
                together = turns.run([lambda p=p: lm.next_token_log_probs(p) for p in prefixes])
        finally:
            for hook in hooks:
                hook.remove()
    assert forwards == [] and len(heads) == 1
    for got, expected in zip(together, alone):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_searches_taking_turns_run_at_most_one_forward_per_step():
    """Keyword searches in lockstep: the starts' scores, then one forward per step for all sets, though
    some steps of some searches need none (their candidates were scored before)."""
    lm = make_tiny_lm()
    start = lm.stats.forwards
    KeywordsToSentence(lm, init="keywords", steps=20, chains=2).generate([["cat"], ["dog"], ["ball", "red"]])
    assert lm.stats.forwards - start <= 1 + 20
