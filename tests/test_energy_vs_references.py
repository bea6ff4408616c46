"""The energy check compares each system's sentence with the references that use every keyword."""
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


def words(_, texts):
    """A stand-in energy: one per word, over as many tokens as words."""
    return [(float(len(t.split())), len(t.split())) for t in texts]


def covers(keywords, text):
    return all(k in text.split() for k in keywords)


ROWS = [
    {"concepts": ["dog"], "references": ["a dog", "the big dog ran"],        # a reference scores lower (2 < 3)
     "ours": {"text": "my dog sat"}, "human": {"text": "a dog"}},
    {"concepts": ["cat"], "references": ["the cat sat down", "a big cat"],   # no reference scores lower (2 < 3)
     "ours": {"text": "a cat"}, "human": {"text": "the cat sat down"}},
    {"concepts": ["owl"], "references": ["a bird", "some bird"],             # no reference uses the keyword
     "ours": {"text": "an owl"}, "human": {"text": "a bird"}},
]


def test_a_set_counts_where_a_covering_reference_scores_lower():
    summary = check.compare(ROWS, ["ours", "human"], words, covers)
    assert summary["ours"]["sets"] == 2                            # the owl set has no reference to compare with
    assert summary["ours"]["reference_preferred"] == 0.5
    assert summary["ours"]["energy_per_token"] == 1.0 and summary["ours"]["reference_energy_per_token"] == 1.0


def test_the_human_row_is_compared_with_the_other_references_only():
    summary = check.compare(ROWS, ["human"], words, covers)
    assert summary["human"]["sets"] == 2
    assert summary["human"]["reference_preferred"] == 0.5          # "a dog" (2) beats "the big dog ran"; "the cat sat down" loses to "a big cat"


def test_a_sentence_that_misses_a_keyword_loses_to_any_reference():
    rows = [{"concepts": ["dog"], "references": ["a dog"], "ours": {"text": "a cat"}}]
    infinite = lambda keywords, texts: [(0.0 if covers(keywords, t) else math.inf, 1) for t in texts]   # noqa: E731
    assert check.compare(rows, ["ours"], infinite, covers)["ours"]["reference_preferred"] == 1.0


def test_the_systems_of_a_report_are_its_rows_entries_with_text():
    assert check.systems_of(ROWS) == ["ours", "human"]


def test_a_file_that_is_no_report_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"summary": {}}))
    run = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True)
    assert run.returncode == 2 and "no bench_keywords report" in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_task_energy_is_finite_with_every_keyword_and_infinite_without(default_lm):
    score, covered = check.task_score(None)
    (soup, _), (missing, _) = score(["dog", "frisbee"], ["A dog catches a frisbee.", "A dog runs."])
    assert math.isfinite(soup) and missing == math.inf
    assert covered(["dog", "frisbee"], "Two dogs chase frisbees.") and not covered(["dog"], "A cat.")
