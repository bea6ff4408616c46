"""The `textsearch keywords` command: output formats, seeds, batch files and one-line errors.

The generator is the real keyword search over the tiny test LM, handed to `main`
through its `make_generator` parameter; the real default model runs in the slow test.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import make_tiny_lm

from textsearch import cli
from textsearch.tasks.keywords import KeywordsToSentence

SCHEMA = {"keywords": list, "text": str, "energy": float, "covered": bool, "steps": int, "seconds": float}


def tiny_generator(args, device):
    return KeywordsToSentence(make_tiny_lm(), steps=args.steps, chains=args.chains, top_k=args.top_k, init=args.init,
                              top_p=args.top_p, particles=args.particles, max_len=8, draft_tokens=4)


def run(argv, capsys):
    code = cli.main(argv, make_generator=tiny_generator)
    out, err = capsys.readouterr()
    return code, out, err


FAST = ["--steps", "4", "--chains", "2", "--top-k", "6"]


def test_prints_one_sentence_per_result(capsys):
    code, out, err = run(["keywords", "dog", "ball", *FAST], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 1 and {"dog", "ball"} <= set(lines[0].split())
    code, out, _ = run(["keywords", "dog", "ball", "--num", "3", *FAST], capsys)
    assert code == 0 and len(out.splitlines()) == 3


def test_json_lines_follow_the_schema_and_the_seed(capsys):
    code, out, _ = run(["keywords", "dog", "ball", "--json", "--num", "2", "--seed", "7", *FAST], capsys)
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 2
    for record in records:
        assert {key: type(value) for key, value in record.items()} == SCHEMA
        assert record["keywords"] == ["dog", "ball"] and record["covered"] and record["steps"] == 4
    _, again, _ = run(["keywords", "dog", "ball", "--json", "--num", "2", "--seed", "7", *FAST], capsys)
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}        # noqa: E731
    assert [drop(json.loads(line)) for line in again.splitlines()] == [drop(r) for r in records]


def test_trace_prints_the_search_then_the_sentence(capsys):
    code, out, _ = run(["keywords", "dog", "ball", "--trace", "--init", "keywords", *FAST], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["step", "operation", "energy", "sentence"]
    assert lines[1].split()[:2] == ["0", "init"] and lines[1].endswith("dog ball")
    assert lines[-2].endswith(lines[-1])                   # the last edit shown is the sentence printed
    code, out, _ = run(["keywords", "dog", "ball", "--trace", "--json", *FAST], capsys)
    trace = json.loads(out)["trace"]                       # the default start: an SMC particle's growth first
    start = [step[1] for step in trace].index("smc")
    assert {step[1] for step in trace[:start]} <= {"grow"} and all(step[2] is None for step in trace[:start])
    assert all(a[0] < b[0] for a, b in zip(trace, trace[1:])) and trace[-1][3] == json.loads(out)["text"]


@pytest.mark.parametrize("argv, message", [
    (["keywords"], "no keywords"),
    (["keywords", "dog", "123"], "'123' has no letters"),
    (["keywords", "dog", "ball", "park", "cat", "big", "mat", "sat", "ran", "red"], "length limit of 8"),
    (["keywords", "dog", "--num", "0"], "must be at least 1"),
    (["keywords", "dog", "--steps", "many"], "expected a whole number"),
    (["keywords", "dog", "--top-p", "0"], "must be in (0, 1]"),
    (["keywords", "dog", "--device", "tpu"], "invalid choice"),
    (["keywords", "dog", "--init", "middle"], "invalid choice"),
    (["keywords", "dog", "--particles", "0"], "--particles: must be at least 1"),
    (["keywords", "dog", "--output", "out.jsonl"], "--output needs --input"),
    (["keywords", "--input", "sets.txt"], "--input needs --output"),
    (["keywords", "dog", "--input", "sets.txt", "--output", "o.jsonl"], "not both"),
    (["keywords", "--input", "/nonexistent/sets.txt", "--output", "o.jsonl"], "cannot read the input file"),
    (["keywords", "--input", "sets.txt", "--output", "o.jsonl", "--pack", "0"], "--pack: must be at least 1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err


def test_unknown_model_is_one_line_and_exit_2(tmp_path, capsys):
    code = cli.main(["keywords", "dog", "--model", str(tmp_path / "no-such-model")])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and "no model at" in err and "no-such-model" in err


def test_batch_runs_good_lines_and_reports_bad_ones_by_number(tmp_path, capsys):
    sets = tmp_path / "sets.txt"
    sets.write_text('dog ball\n{"concept_set": "cat#mat"}\n42\n\npark, red\n{oops\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, stdout, err = run(["keywords", "--input", str(sets), "--output", str(out), *FAST], capsys)
    assert code == 2 and stdout == ""
    errors = err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {sets}:3: ") and errors[1].startswith(f"error: {sets}:6: ")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["keywords"] for r in records] == [["dog", "ball"], ["cat", "mat"], ["park", "red"]]
    assert all(r["covered"] for r in records)


def test_batch_restart_skips_finished_sets_and_repeats_the_lines(tmp_path, capsys):
    sets = tmp_path / "sets.txt"
    sets.write_text("dog ball\ncat mat\npark red\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    argv = ["keywords", "--input", str(sets), "--output", str(out), "--num", "2", "--seed", "3", *FAST]
    assert run(argv, capsys)[0] == 0
    full = out.read_text().splitlines(keepends=True)
    assert len(full) == 6
    out.write_text(full[0] + full[1] + full[2] + full[3][:9])       # killed while writing set 1
    assert run(argv, capsys)[0] == 0
    resumed = out.read_text().splitlines(keepends=True)
    assert resumed[:2] == full[:2]                                     # the finished set untouched
    drop = lambda line: {k: v for k, v in json.loads(line).items() if k not in ("seconds", "energy")}   # noqa: E731
    assert [drop(line) for line in resumed] == [drop(line) for line in full]
    energies = lambda lines: [json.loads(line)["energy"] for line in lines]   # noqa: E731 - packs round apart
    assert energies(resumed) == pytest.approx(energies(full), rel=1e-6)


def test_batch_packs_give_the_sentences_of_sets_run_alone(tmp_path, capsys):
    sets = tmp_path / "sets.txt"
    sets.write_text("dog ball\ncat mat\npark red\nblue cat\n", encoding="utf-8")
    runs = {}
    for pack in ("1", "3"):
        out = tmp_path / f"pack{pack}.jsonl"
        assert run(["keywords", "--input", str(sets), "--output", str(out), "--pack", pack, *FAST], capsys)[0] == 0
        runs[pack] = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in out.read_text().splitlines()]
    assert len(runs["1"]) == 4
    energy = lambda r: pytest.approx(r.pop("energy"), rel=1e-6)        # noqa: E731 - float rounding apart
    assert [energy(r) for r in runs["1"]] == [r.pop("energy") for r in runs["3"]] and runs["3"] == runs["1"]


def test_module_entry_point_exits_2_without_traceback():
    for argv in (["keywords"], ["keywords", "dog", "--model", "/nonexistent/model-dir"]):
        done = subprocess.run([sys.executable, "-m", "textsearch.cli", *argv], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_default_model_from_the_command_line(capsys):
    code = cli.main(["keywords", "dog", "frisbee", "catch", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["covered"], record
