"""The marks check pairs natural with not natural sentences of one set and counts where an energy agrees."""
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "energy_vs_marks.py"
spec = importlib.util.spec_from_file_location("energy_vs_marks", SCRIPT)
check = importlib.util.module_from_spec(spec)
sys.path.insert(0, str(SCRIPT.parent))          # as when run: the script imports blind_sheet beside it
try:
    spec.loader.exec_module(check)
finally:
    sys.path.remove(str(SCRIPT.parent))

HEADER = "# rubric\nid\tkeywords\tsentence\tmark\n"


def sheet(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"L{k:03d}\t{kw}\t{s}\t{m}\n" for k, (kw, s, m) in enumerate(lines)))
    return path


def covers(words, text):
    return all(w in text.split() for w in words)


def word_count(words, texts):
    return [float(len(t.split())) for t in texts]


def test_readers_marks_are_averaged_and_a_tie_is_left_out(tmp_path):
    a = sheet(tmp_path, "a.tsv", [("dog", "a dog ran", 1), ("dog", "dog dog", 0), ("dog", "the dog", 1)])
    b = sheet(tmp_path, "b.tsv", [("dog", "a dog ran", 1), ("dog", "dog dog", 0), ("dog", "the dog", 0)])
    sets = check.read_sheets([a, b])
    assert sets == {"dog": {"a dog ran": 1.0, "dog dog": 0.0, "the dog": 0.5}}
    assert check.pairs_of(sets, covers) == {"dog": [("a dog ran", "dog dog")]}


def test_sentences_that_miss_a_keyword_and_sets_without_both_marks_make_no_pairs():
    sets = {"cat": {"a cat sat": 1.0, "a dog sat": 0.0, "cat cat": 0.0},        # "a dog sat" misses "cat"
            "owl": {"an owl": 1.0, "the owl flew": 1.0}}                         # nothing marked not natural
    assert check.pairs_of(sets, covers) == {"cat": [("a cat sat", "cat cat")]}


def test_an_energy_agrees_where_it_scores_the_natural_sentence_lower():
    pairs = {"dog": [("a dog", "a big dog ran"), ("a big dog ran", "a dog"), ("the dog", "my dog")]}
    assert check.agreements(pairs, word_count) == {"dog": [1.0, 0.0, 0.5]}


def test_the_summary_counts_every_pair_and_its_interval_holds_the_agreement():
    agreed = {"a": [1.0, 1.0, 1.0, 0.0], "b": [0.0], "c": [1.0, 0.5]}
    s = check.summary(agreed)
    assert (s["sets"], s["pairs"]) == (3, 7) and s["agreement"] == pytest.approx(4.5 / 7)
    assert s["low"] <= s["agreement"] <= s["high"] and s["low"] < s["high"]
    assert "| words | 3 | 7 | 0.643 |" in check.markdown({"words": s})


@pytest.mark.parametrize("content, message", [
    ("id\tsentence\n", "no blind_sheet sheet"),
    (HEADER + "L000\tdog\ta dog\tyes\n", "is not 1 or 0"),
    (HEADER + "L000\tdog\ta dog\t\n", "no marked lines"),
    (HEADER + "L000\tdog\ta dog\t1\nL001\tdog\tthe dog\t1\n", "no set has both"),
])
def test_a_sheet_it_cannot_use_is_refused_in_one_line_before_the_model_loads(tmp_path, content, message):
    bad = tmp_path / "sheet.tsv"
    bad.write_text(content)
    run = subprocess.run([sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_model_energies_rule_out_what_the_task_does_and_prefer_fluent_text(default_lm):
    energies = check.lm_energies(default_lm)
    words = ["dog", "frisbee"]
    fine, missing, two = energies["search"](words, ["A dog catches a frisbee.", "A dog runs.",
                                                    "A dog runs. It catches a frisbee."])
    assert math.isfinite(fine) and missing == math.inf and two == math.inf
    fluent, scrambled = energies["unprompted"](words, ["A dog catches a frisbee.", "frisbee a catches. dog A"])
    assert fluent < scrambled
