"""The energy check holds each system's sentence against the other references that use every keyword."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "energy_vs_references.py"
spec = importlib.util.spec_from_file_location("energy_vs_references", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def words(keywords, texts):
    """A stand-in energy: one per word, infinite without every keyword, over the words and an end as tokens."""
    return [(len(t.split()) if covers(keywords, t) else math.inf, len(t.split()) + 1) for t in texts]


def covers(keywords, text):
    return all(k in text.split() for k in keywords)


ROWS = [
    {"concepts": ["dog"], "references": ["the dog", "the big dog ran"],         # the other reference: 4 words
     "ours": {"text": "my big brown dog sat"}, "human": {"text": "the dog"}},     # 5 words lose, 2 win
    {"concepts": ["cat"], "references": ["the cat sat down", "a big cat"],       # the other reference: 3 words
     "ours": {"text": "a cat"}, "human": {"text": "the cat sat down"}},          # 2 words win, 4 lose
    {"concepts": ["owl"], "references": ["an owl", "a bird"],                     # only the first uses the keyword
     "ours": {"text": "an owl"}, "human": {"text": "an owl"}},
    {"concepts": ["fox"], "references": ["a fox", "the red fox"],
     "ours": {"text": "a dog"}, "human": {"text": "a fox"}},                      # ours misses the keyword
]


def test_a_set_counts_where_another_covering_reference_scores_lower():
    summary = check.compare(ROWS, ["ours", "human"], words, covers)
    assert summary["ours"] == {"sets": 3, "misses": 1, "reference_preferred": 0.5,
                               "energy_per_token": pytest.approx((5 / 6 + 2 / 3) / 2),
                               "reference_energy_per_token": pytest.approx((4 / 5 + 3 / 4) / 2)}
    assert summary["human"]["sets"] == 3 and summary["human"]["misses"] == 0     # the owl set: no other reference
    assert summary["human"]["reference_preferred"] == pytest.approx(1 / 3)     # "the cat sat down" loses


def test_a_sentence_the_energy_rules_out_loses_and_a_reference_it_rules_out_is_not_held_against():
    def one_sentence(keywords, texts):               # words as energy, infinite for a second sentence too
        return [(e if ". " not in t else math.inf, n) for (e, n), t in zip(words(keywords, texts), texts)]
    rows = [{"concepts": ["dog"], "references": ["a dog", "the dog ran. it sat", "a big dog ran"],
             "ours": {"text": "a dog sat. it ran"}, "theirs": {"text": "my dog"}}]
    summary = check.compare(rows, ["ours", "theirs"], one_sentence, covers)
    assert summary["ours"]["misses"] == 0 and summary["ours"]["reference_preferred"] == 1.0
    assert math.isnan(summary["ours"]["energy_per_token"])                    # none of its sentences admitted
    assert summary["theirs"]["reference_preferred"] == 0.0                  # "a big dog ran" is the best reference
    assert summary["theirs"]["reference_energy_per_token"] == 0.8
    only_ruled_out = [{**rows[0], "references": ["a dog", "the dog ran. it sat"]}]
    assert check.compare(only_ruled_out, ["ours"], one_sentence, covers)["ours"]["sets"] == 0


def test_the_first_reference_is_never_held_against_itself():
    rows = [{"concepts": ["dog"], "references": ["a dog", "a dog ran far"], "human": {"text": "a dog"}}]
    summary = check.compare(rows, ["human"], words, covers)
    assert summary["human"]["reference_preferred"] == 0.0 and summary["human"]["reference_energy_per_token"] == 0.8


def test_a_system_without_covering_sentences_prints_dashes():
    rows = [{"concepts": ["dog"], "references": ["a dog", "the dog"], "ours": {"text": "a cat"}}]
    summary = check.compare(rows, ["ours"], words, covers)
    assert summary["ours"]["misses"] == 1 and math.isnan(summary["ours"]["reference_preferred"])
    assert "| ours | 1 | 1 | – | – | – |" in check.markdown(summary)


def test_the_systems_of_a_report_are_its_rows_entries_with_text():
    assert check.systems_of(ROWS) == ["ours", "human"]


def test_the_report_gives_the_settings_textsearch_ran_with(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"config": {"options": {"beta": 2}}, "sets": ROWS}))
    rows, systems, settings = check.read_report(path)
    assert rows == ROWS and systems == ["ours", "human"] and settings == {"beta": 2}


@pytest.mark.parametrize("content, message", [
    ({"summary": {}}, "no bench_keywords report"),
    ([{"concepts": ["a"]}], "no bench_keywords report"),             # the bench's sets.json, not its report
    ({"sets": [1, 2]}, "no bench_keywords report"),
    ({"sets": []}, "has no sets"),
    ({"sets": [{"concepts": ["a"], "references": ["a b"]}]}, "no system outputs"),
])
def test_a_file_that_is_no_report_is_refused_in_one_line_before_the_model_loads(tmp_path, content, message):
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(content))
    run = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_task_energy_is_finite_with_every_keyword_and_infinite_without(default_lm):
    score, covered = check.task_score(default_lm, {})
    (fine, tokens), (missing, _) = score(["dog", "frisbee"], ["A dog catches a frisbee.", "A dog runs."])
    assert math.isfinite(fine) and tokens == len(default_lm.encode(" A dog catches a frisbee.")) + 1
    assert missing == math.inf
    assert covered(["dog", "frisbee"], "Two dogs chase frisbees.") and not covered(["dog"], "A cat.")
