"""The items scripts/bench_tasks.py builds: seeded, and what their docstring says they are."""
import importlib.util
import random
from pathlib import Path

import pytest

from textsearch.objectives import Template
from textsearch.objectives.edit_distance import edit_costs

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_tasks.py"
spec = importlib.util.spec_from_file_location("bench_tasks", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

SENTENCES = ["A man is riding a horse on the beach.", "Two children play with a red ball in the park.",
             "She cuts the bread, then butters it.", "The dog sleeps."]


@pytest.mark.parametrize("seed", range(20))
def test_blanked_spans_fill_back_into_the_sentence(seed):
    sentence = SENTENCES[seed % len(SENTENCES)]
    template, spans = bench.blank(sentence, random.Random(seed))
    shape = Template(template, max_words=3)
    assert 1 <= shape.blanks == len(spans) <= 2 and all(1 <= len(s.split()) <= 3 for s in spans)
    assert shape.fills(sentence) is not None
    filled = "".join(p + s for p, s in zip(shape.parts, spans)) + shape.parts[-1]
    assert filled == sentence
    assert bench.blank(sentence, random.Random(seed)) == (template, spans)


@pytest.mark.parametrize("seed", range(20))
def test_corruptions_are_a_few_word_edits_and_seeded(seed):
    sentence = SENTENCES[seed % len(SENTENCES)]
    corrupted = bench.corrupt(sentence, random.Random(seed))
    assert corrupted == bench.corrupt(sentence, random.Random(seed))
    assert edit_costs(sentence, corrupted, word_cost=1.0, char_cost=1.0, typo_chars=0) <= 3


@pytest.mark.parametrize("seed", range(40))
def test_corruptions_change_the_sentence(seed):
    """For these seeds every input differs from its clean sentence (a lone typo can be a no-op elsewhere)."""
    sentence = SENTENCES[seed % 3]
    rng = random.Random(seed)
    corrupted = bench.corrupt(sentence, rng)
    assert corrupted != sentence
