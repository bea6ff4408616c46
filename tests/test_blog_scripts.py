"""The blog scripts run in --quick mode and show what the posts show.

Each script runs as a subprocess, as a user would run it; the checks read its
printed tables.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def run_script(name: str, *args: str, timeout: int = 600) -> str:
    completed = subprocess.run([sys.executable, str(SCRIPTS / name), "--quick", *args], capture_output=True,
                               text=True, timeout=timeout, cwd=SCRIPTS)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def rows(pattern: str, text: str) -> list[tuple[str, ...]]:
    return re.findall(pattern, text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def part1() -> str:
    return run_script("blog_part1_search.py")


def test_part1_importance_estimates_lie_within_three_standard_errors(part1):
    assert part1.splitlines()[0].startswith("Reproduces 【搜出来的文本】⋅(一)")
    exact = float(re.search(r"exact value by enumeration: ([\d.]+)", part1).group(1))
    table = rows(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)\s+([\d.]+)$", part1)
    assert [int(r[0]) for r in table] == [100, 1000, 10000]
    for draws, estimate, std_err, z, ess in table:
        assert abs(float(estimate) - exact) <= 3 * float(std_err)
        assert float(z) == pytest.approx((float(estimate) - exact) / float(std_err), abs=0.02)
        assert 1 <= float(ess) <= int(draws)
    assert float(table[-1][2]) < float(table[0][2])          # more draws, smaller error bars


def test_part1_rejection_acceptance_falls_as_keywords_are_added(part1):
    table = rows(r"^(\w+(?: \w+)*)\s+(\d+)/(\d+)\s+[\d.]+%\s+(\d+)/(\d+)\s+[\d.]+%", part1)
    assert [len(r[0].split()) for r in table] == [1, 2, 3, 4]
    alone = [int(r[1]) for r in table]
    prompted = [int(r[3]) / int(r[4]) for r in table]
    assert alone == sorted(alone, reverse=True)                # nested keyword sets over one pool of drafts
    assert prompted[0] > prompted[-1]


@pytest.fixture(scope="module")
def part2(tmp_path_factory) -> tuple[str, Path]:
    png = tmp_path_factory.mktemp("part2") / "tv.png"
    return run_script("blog_part2_mcmc.py", "--plot", str(png)), png


def test_part2_total_variation_falls_to_the_sampling_floor(part2):
    out, _ = part2
    assert out.splitlines()[0].startswith("Reproduces 【搜出来的文本】⋅(二)")
    table = {int(r[0]): (float(r[1]), float(r[2])) for r in rows(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out)}
    floor = float(re.search(r"shows TV ([\d.]+) on average", out).group(1))
    steps = sorted(table)
    for column in (0, 1):                                      # MH, Gibbs
        curve = [table[s][column] for s in steps]
        assert curve[0] > 0.9
        assert curve[steps.index(2)] > curve[steps.index(8)] > curve[-1]
        assert curve[-1] < 1.5 * floor


def test_part2_annealing_restores_the_shuffled_sentence(part2):
    out, _ = part2
    reached = rows(r"^\S.*?\s+(\d+)/(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+'(.*)'$", out)
    assert len(reached) == 5                                   # one row per schedule
    assert sum(int(r[0]) for r in reached) > 0
    assert "The cat sat down." in [r[2] for r in reached]      # some schedule's best is the original order


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="the plot extra is not installed")
def test_part2_writes_the_plot(part2):
    _, png = part2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def sample_lines(out: str) -> list[tuple[int, str]]:
    return [(int(step), text) for step, text in rows(r"^  step\s+(\d+): (.*)$", out)]


def test_part3_offline_runs_gibbs_with_the_lm_and_says_so():
    out = run_script("blog_part3_gibbs_mlm.py")
    assert re.match(r"Reproduces 【搜出来的文本】⋅\(三\) offline \(no --mlm given\)", out)
    burn_in = int(re.search(r"burn-in (\d+)", out).group(1))
    samples = sample_lines(out)
    assert len(samples) == 10 and all(step >= burn_in for step, _ in samples)
    rate = float(re.search(r"acceptance rate ([\d.]+)", out).group(1))
    assert 0 < rate <= 1


@pytest.fixture(scope="module")
def tiny_mlm_dir(tmp_path_factory) -> Path:
    from conftest import make_tiny_mlm
    mlm, path = make_tiny_mlm(), tmp_path_factory.mktemp("tiny-mlm")
    mlm.model.save_pretrained(path)
    mlm.tokenizer.save_pretrained(path)
    return path


def test_part3_with_an_mlm_follows_the_post_procedure(tiny_mlm_dir):
    out = run_script("blog_part3_gibbs_mlm.py", "--mlm", str(tiny_mlm_dir), "--init", "the cat sat on the mat .")
    assert re.match(r"Reproduces 【搜出来的文本】⋅\(三\) Gibbs sampling with the masked LM", out)
    assert "acceptance rate 1.000" in out                      # the MLM's draws are taken as they come
    samples = sample_lines(out)
    assert len(samples) == 10
    assert all(len(text.split()) == 7 for _, text in samples)   # Gibbs redraws tokens, never the length


def test_part3_with_an_mlm_starts_from_masks_of_length_8_to_32(tiny_mlm_dir):
    out = run_script("blog_part3_gibbs_mlm.py", "--mlm", str(tiny_mlm_dir), "--from-masks")
    length = int(re.search(r"start \((\d+) tokens\): \[MASK\] × \1", out).group(1))
    assert 8 <= length <= 32
    samples = sample_lines(out)
    assert len(samples) == 10 and all(len(text.split()) <= length for _, text in samples)


def test_part4_every_final_sentence_has_every_keyword():
    import textsearch as ts

    out = run_script("blog_part4_keywords.py")
    assert out.splitlines()[0].startswith("Reproduces 【搜出来的文本】⋅(四)")
    sets = [words.split(", ") for words in rows(r"^keywords: (.*?)  \(acceptance", out)]
    finals = rows(r"^final \(energy [\d.]+, every keyword: (\w+)\): (.*)$", out)
    assert len(sets) == len(finals) >= 1 and sets[0] == ["dog", "frisbee", "catch"]
    for words, (verdict, text) in zip(sets, finals):
        assert verdict == "yes" and ts.objectives.Keywords(words).missing(text) == []
    traces = rows(r"^\s+(\d+)  (init|insert|delete|replace)\s+([\d.]+)  (.*)$", out)
    assert traces[0][1] == "init" and traces[0][3] == "dog frisbee catch"      # the post's start: the keywords
    if "Gemma-3-270M is not installed" in out:
        assert len(sets) == 1
    else:
        assert ["广州", "美食", "开幕"] in sets
