"""Infill: the template is kept, each blank takes 1 to max_blank words, and the search only improves."""
import pytest
from conftest import make_tiny_lm

from textsearch.objectives import Template
from textsearch.tasks.infill import Infill, locked_template


@pytest.fixture(scope="module")
def lm():
    return make_tiny_lm(seed=2)


def test_template_reads_fills_and_refuses_other_text():
    template = Template("The [BLANK] sat on the [BLANK].", max_words=2)
    assert template.blanks == 2
    assert template.fills("The big cat sat on the  mat.") == ["big cat", "mat"]
    assert template.fills("The cat sat on the mat") is None                      # the full stop is the template's
    assert template.fills("The very big cat sat on the mat.") is None            # three words in a 2-word blank
    assert template.fills("A cat sat on the mat.") is None
    assert template([ "The cat sat on the mat.", "The cat sat on a mat."]).tolist() == [0.0, float("inf")]
    assert Template("un[BLANK] day", max_words=1).fills("unusual day") == ["usual"]
    with pytest.raises(ValueError, match=r"no \[BLANK\]"):
        Template("No blanks here.")


def test_locked_template_locks_the_fixed_text_only(lm):
    template = Template("the [BLANK] sat on the [BLANK] .")
    state = locked_template(lm, template, ["big cat", "mat"])
    words = [lm.decode([t]).strip() for t in state.tokens]
    assert words == "the big cat sat on the mat .".split()
    assert state.locked == (True, False, False, True, True, True, False, True)


@pytest.mark.parametrize("text", ["the [BLANK] sat on the [BLANK] .", "[BLANK] ran in the park"])
def test_every_result_reads_as_the_template(lm, text):
    task = Infill(lm, max_blank=2, steps=6, num_drafts=6, top_k=6)
    template = Template(text, max_words=2)
    results = task(text, num=3, seed=1, trace=True)
    assert len(results) == 3
    for result in results:
        assert template.fills(result.text) is not None, result.text
        assert result.source == text and result.trace and result.trace[0].operation == "init"
        assert result.energy <= min(s.energy for s in result.trace) + 1e-9        # never worse than a start


def test_same_seed_same_fills_and_a_batch_matches_single_runs(lm):
    task = Infill(lm, max_blank=2, steps=4, num_drafts=6, top_k=6)
    texts = ["the [BLANK] sat on the [BLANK] .", "a [BLANK] dog ran"]
    single = [task(t, seed=3)[0].text for t in texts]
    assert [task(t, seed=3)[0].text for t in texts] == single
    assert [r[0].text for r in task.generate(texts, seed=3)] == single


def test_bad_templates_are_refused_with_what_to_do(lm):
    task = Infill(lm)
    with pytest.raises(ValueError, match=r"no \[BLANK\]"):
        task.check("nothing to fill")
    with pytest.raises(ValueError, match="at most"):
        task.check(" ".join(["[BLANK]"] * 7))
    with pytest.raises(ValueError, match="max_blank"):
        Infill(lm, max_blank=0)


@pytest.mark.slow
def test_infill_with_the_default_model(default_lm):
    result = Infill(default_lm)("She opened the [BLANK] and [BLANK] inside.")[0]
    fills = Template("She opened the [BLANK] and [BLANK] inside.").fills(result.text)
    assert fills is not None and all(f.replace(" ", "").isalpha() for f in fills), result.text
