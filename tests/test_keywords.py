"""Keyword-to-sentence: validation, seeding, keyword locking, both starts, the search result."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from textsearch.state import State
from textsearch.tasks.keywords import (FORM_WEIGHT, GAMMA, REPETITION_WEIGHT, UNIGRAM, KeywordsToSentence,
                                       validate_keywords)
from textsearch.tasks.sentences import locked_state, trimmed
from textsearch.tasks import polish as polish_module
from textsearch.tasks.keyword_prompts import ENGLISH
from textsearch.tasks.trace import Recorder, TraceStep, format_trace
from textsearch.tasks.seeds import phase_seed, seed_for
from textsearch.objectives import Fluency, Keywords, RepetitionPenalty, SentenceForm
from textsearch.tasks import keywords as task


def test_validate_keywords():
    assert validate_keywords([" dog ", "ice cream"]) == ["dog", "ice cream"]
    with pytest.raises(ValueError, match="no keywords"):
        validate_keywords([])
    with pytest.raises(ValueError, match="'123' has no letters"):
        validate_keywords(["dog", "123"])
    with pytest.raises(ValueError, match="has no letters"):
        validate_keywords(["  "])
    with pytest.raises(TypeError, match="list of strings"):
        validate_keywords("dog")


def test_seed_for_depends_on_seed_set_and_index_only():
    base = seed_for(0, ["dog", "cat"])
    assert base == seed_for(0, ["dog", "cat"], 0)
    others = {seed_for(1, ["dog", "cat"]), seed_for(0, ["cat", "dog"]), seed_for(0, ["dog", "cat"], 1),
              seed_for(0, ["dogcat"])}
    assert base not in others and len(others) == 4
    assert 0 <= base < 2**63


def test_draft_and_search_draw_from_different_streams(tiny_lm, monkeypatch):
    generator = KeywordsToSentence(tiny_lm, steps=1, chains=1, top_k=4, draft_tokens=4, num_drafts=2, init="draft")
    seen = {}
    drafts, annealing = generator.drafts, polish_module.SimulatedAnnealing

    def spy_drafts(sets, keywords, generators, progress=False):
        seen["draft"] = generators[0].initial_seed()
        return drafts(sets, keywords, generators, progress)

    def spy_annealing(*args, seed, **kwargs):
        seen["search"] = seed
        return annealing(*args, seed=seed, **kwargs)

    monkeypatch.setattr(generator, "drafts", spy_drafts)
    monkeypatch.setattr(polish_module, "SimulatedAnnealing", spy_annealing)
    generator(["dog"], seed=3)
    job = seed_for(3, ["dog"])
    assert seen == {"draft": phase_seed(job, "draft"), "search": phase_seed(job, "search")}
    assert seen["draft"] != seen["search"]


def test_check_refuses_keywords_longer_than_the_length_limit(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, init="keywords", max_len=3)
    assert generator.check(["dog", "cat", "ball"]) == ["dog", "cat", "ball"]
    with pytest.raises(ValueError, match="take 4 tokens, more than the sentence length limit of 3"):
        generator.check(["dog", "cat", "ball", "mat"])


def test_locked_state_locks_the_tokens_each_keyword_rests_on(tiny_lm):
    keywords = Keywords(["dog", "mat"])
    tokens = tiny_lm.encode("the dog sat on the mat")
    state = locked_state(tokens, keywords, tiny_lm.decode)
    assert state.tokens == tuple(tokens)
    assert state.locked == (False, True, False, False, False, True)
    # a keyword written twice rests on neither copy alone: both stay editable
    twice = locked_state(tiny_lm.encode("the dog saw the dog"), Keywords(["dog"]), tiny_lm.decode)
    assert twice.locked == (False,) * 5


def test_keyword_start_is_the_keywords_in_order_all_locked(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, init="keywords")
    state = generator.keyword_start(["ball", "dog"], Keywords(["ball", "dog"]))
    assert tiny_lm.decode(list(state.tokens)).split() == ["ball", "dog"]
    assert all(state.locked)
    assert KeywordsToSentence.bare_keywords(["dog", "ball"]) == " dog ball"      # room for a word before the first


def test_best_insertion_takes_the_most_fluent_gap_then_form(tiny_lm):
    generator = KeywordsToSentence(tiny_lm)
    fluency = Fluency(tiny_lm, gamma=GAMMA, length_norm=True)
    words = "the cat sat on the mat".split()
    text = generator.best_insertions([(" ".join(words), "dog", ENGLISH)])[0]

    def at(gap, form):
        return " ".join(words[:gap] + [form.capitalize() if gap == 0 else form] + words[gap:])

    gaps = [at(g, "dog") for g in range(1, len(words) + 1)]          # never before the capitalised first word
    gap = 1 + int(torch.argmin(fluency([tiny_lm.encode(t) for t in gaps])))
    forms = [at(gap, form) for form in ("dog", "dogs")]
    assert text in forms
    energies = fluency([tiny_lm.encode(t) for t in forms])
    assert fluency([tiny_lm.encode(text)])[0].item() == pytest.approx(energies.min().item(), rel=1e-5)



def test_an_english_keyword_never_goes_before_the_capitalised_first_word(tiny_lm):
    generator = KeywordsToSentence(tiny_lm)                    # a stand-in fluency that reads text and wants "Dog" first
    generator.lm = SimpleNamespace(encode=lambda text: text)
    generator.fluency = lambda texts: torch.tensor([0.0 if t.startswith("Dog") else 1.0 for t in texts],
                                                   dtype=torch.float64)
    assert not generator.best_insertions([("The cat sat", "dog", ENGLISH)])[0].startswith("Dog")
    assert generator.best_insertions([("", "dog", ENGLISH)])[0] in ("Dog", "Dogs")     # alone, it opens the sentence

def test_draft_start_contains_every_keyword_locked(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, chains=3, draft_tokens=6)
    keywords = Keywords(["dog", "ball", "park"])
    starts = generator.drafts([["dog", "ball", "park"]], [keywords], [torch.Generator().manual_seed(0)])[0]
    assert len(starts) == 3
    for state in starts:
        text = tiny_lm.decode(list(state.tokens))
        assert keywords.missing(text) == []
        assert state.locked == locked_state(state.tokens, keywords, tiny_lm.decode).locked
        assert any(state.locked)


@pytest.mark.parametrize("init", ["keywords", "draft"])
def test_search_returns_a_covering_sentence_with_its_energy(tiny_lm, init):
    generator = KeywordsToSentence(tiny_lm, steps=6, chains=2, top_k=8, init=init, draft_tokens=6)
    first, second = generator(["dog", "ball"], num=2, seed=3)
    for result in (first, second):
        assert result.covered and result.keywords == ["dog", "ball"] and result.steps == 6
        assert Keywords(["dog", "ball"]).missing(result.text) == []
        objective = (Fluency(tiny_lm, gamma=GAMMA, length_norm=True, unigram=UNIGRAM) + SentenceForm(FORM_WEIGHT)
                     + RepetitionPenalty(2, REPETITION_WEIGHT) + Keywords(["dog", "ball"]))
        assert math.isfinite(result.energy)
        assert result.energy == pytest.approx(objective([tiny_lm.encode(result.text)])[0].item(), rel=1e-5)
        assert result.seconds > 0
        assert set(result.record()) == {"keywords", "text", "energy", "covered", "steps", "seconds"}
    again = generator(["dog", "ball"], num=2, seed=3)
    assert [r.text for r in again] == [first.text, second.text]
    assert [r.energy for r in again] == [first.energy, second.energy]


def test_smc_start_searches_under_the_conditional_energy(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, steps=3, chains=2, top_k=8, init="smc", particles=8)
    words = ["dog", "ball"]
    first = generator(words, seed=3)[0]
    assert first.covered and Keywords(words).missing(first.text) == []
    objective = generator.sentence_energy(words) + Keywords(words)
    assert "context" in repr(objective)
    assert first.energy == pytest.approx(objective([tiny_lm.encode(first.text)])[0].item(), rel=1e-5)
    assert generator(words, seed=3)[0].text == first.text


def test_the_conditional_energy_rules_out_a_second_sentence_or_line(tiny_lm):
    energy = KeywordsToSentence(tiny_lm, init="smc").sentence_energy(["dog"])
    one, two, lines = energy(["A dog runs.", "A dog runs. It stops.", "A dog runs\nfast."]).tolist()
    assert math.isfinite(one) and two == math.inf and lines == math.inf


def test_smc_start_falls_back_to_drafts_when_no_particle_ends_well(tiny_lm, monkeypatch):
    generator = KeywordsToSentence(tiny_lm, steps=2, chains=2, top_k=8, init="smc", particles=4, draft_tokens=6)

    def failing(self, objective, init=None, callback=None, progress=True):
        raise ValueError("all particles have zero weight")

    monkeypatch.setattr(task.SMC, "run", failing)
    drafted = []
    drafts = generator.drafts
    monkeypatch.setattr(generator, "drafts", lambda *args: drafted.append(args[0]) or drafts(*args))
    result = generator(["dog", "ball"], seed=1)[0]
    assert drafted == [[["dog", "ball"]]] and result.covered


def test_sets_generated_together_get_the_results_of_one_call_each(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, steps=4, chains=2, top_k=8, draft_tokens=6)
    sets = [["dog", "ball"], ["cat"], ["park", "dog", "run"]]
    start = tiny_lm.stats.forwards
    together = generator.generate(sets, num=2, seed=4)
    packed, start = tiny_lm.stats.forwards - start, tiny_lm.stats.forwards
    alone = [generator(words, num=2, seed=4) for words in sets]
    assert [[(r.text, r.energy) for r in results] for results in together] == \
        [[(r.text, pytest.approx(r.energy, rel=1e-6)) for r in results] for results in alone]
    assert packed < tiny_lm.stats.forwards - start                   # the drafts shared their forwards


def test_search_is_no_worse_than_its_best_start(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, steps=3, chains=2, top_k=4, draft_tokens=6, init="draft")
    words = ["dog", "ball"]
    keywords = Keywords(words)
    starts = generator.drafts([words], [keywords], [torch.Generator().manual_seed(phase_seed(seed_for(5, words), "draft"))])[0]
    start_energy = (generator.sentence + keywords)(starts).min().item()
    assert generator(words, seed=5)[0].energy <= start_energy


def test_trace_follows_accepted_edits_to_the_result(tiny_lm):
    generator = KeywordsToSentence(tiny_lm, steps=12, chains=2, top_k=8, init="keywords")
    result = generator(["dog", "ball"], seed=1, trace=True)[0]
    trace = result.trace
    assert trace[0].step == 0 and trace[0].operation == "init" and trace[0].text == "dog ball"
    assert all(a.step < b.step for a, b in zip(trace, trace[1:]))
    assert {s.operation for s in trace[1:]} <= {"insert", "delete", "replace"}
    assert trace[-1].text == result.text and trace[-1].energy == pytest.approx(result.energy)
    table = format_trace(trace).splitlines()
    assert table[0].split() == ["step", "operation", "energy", "sentence"]
    assert table[1].split()[:2] == ["0", "init"] and table[-1].endswith(result.text)


def test_trace_shows_only_edits_that_change_the_text(tiny_lm):
    start = State(tuple(tiny_lm.encode(" the dog")))
    recorder = Recorder(tiny_lm, [start], torch.tensor([5.0]))
    accepted = lambda kind: SimpleNamespace(accepted=torch.tensor([True]), kinds=[kind])  # noqa: E731
    recorder(0, [start], torch.tensor([5.0]), accepted("replace"))                        # the same sentence
    grown = State(tuple(tiny_lm.encode(" the dog ran")))
    recorder(1, [grown], torch.tensor([4.0]), accepted("insert"))
    assert [(s.step, s.operation, s.text) for s in recorder.path(0, 1)] == [(0, "init", "the dog"),
                                                                            (2, "insert", "the dog ran")]


def test_format_trace_columns():
    lines = format_trace([TraceStep(0, "init", 12.5, "dog ball"), TraceStep(3, "insert", 9.25, "the dog ball")])
    assert lines.splitlines()[2] == "    3  insert        9.25  the dog ball"


def test_constructor_rejects_bad_settings(tiny_lm):
    with pytest.raises(ValueError, match="init must be one of"):
        KeywordsToSentence(tiny_lm, init="middle")
    with pytest.raises(ValueError, match="must be >= 1"):
        KeywordsToSentence(tiny_lm, steps=0)


@pytest.mark.slow
def test_default_model_writes_a_sentence_with_every_keyword(default_lm):
    words = ["dog", "frisbee", "catch"]
    result = KeywordsToSentence(default_lm)(words, seed=0)[0]
    assert result.covered, result.text
    assert Keywords(words).missing(result.text) == []
    assert len(result.text.split()) >= len(words) + 2       # a sentence, not the bare keywords


def test_trimmed_cuts_what_comes_before_the_first_word():
    assert trimmed("  , - the dog  sat.") == "the dog sat."
    assert trimmed("“Run,” she said.") == "“Run,” she said."
    assert trimmed("...") == ""


def test_drafts_rank_by_energy_plus_a_cost_per_missing_keyword(tiny_lm, monkeypatch):
    texts = ["the dog sat on the ball", "the dog sat", "a cat sat on the mat", ", the ball and the dog", "the dog sat"]
    drawn = [tiny_lm.encode(t.lstrip(", ")) for t in texts]
    monkeypatch.setattr(task, "sample_together", lambda samplers, n, generators: [(drawn, torch.zeros(len(drawn)))])
    words, keywords = ["dog", "ball"], Keywords(["dog", "ball"])
    for cost in (0.0, 2.0):
        generator = KeywordsToSentence(tiny_lm, chains=4, missing_cost=cost)
        starts = generator.drafts([words], [keywords], [torch.Generator()])[0]
        distinct = list(dict.fromkeys(trimmed(t) for t in texts))
        score = generator.sentence([tiny_lm.encode(t) for t in distinct]) \
            + GAMMA * cost * torch.tensor([float(len(keywords.missing(t))) for t in distinct])
        for start, i in zip(starts, score.argsort().tolist()):
            text = tiny_lm.decode(list(start.tokens))
            assert keywords.missing(text) == [] and any(start.locked)
            completed = text.split()
            for word in keywords.missing(distinct[i]):             # what completion inserted, taken out again
                completed.remove(word)
            assert completed == distinct[i].split()


def test_a_keyword_in_a_script_the_model_spells_by_bytes_is_refused():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(["the dog caught a frisbee in the park", "café au lait"] * 20,
                                trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))

    class ByteLevelLM:                                  # what `unwritable` asks of a model
        def encode(self, text):
            return backend.encode(text).ids

        def decode(self, ids):
            return backend.decode(list(ids))

    for word in ("dog", "frisbee", "café", "zebra"):
        task.unwritable(ByteLevelLM(), word)              # whole characters: fine
    for word in ("飞盘", "狗"):
        with pytest.raises(ValueError, match=f"keyword '{word}' is in a script this model cannot write.*gemma3-270m"):
            task.unwritable(ByteLevelLM(), word)
