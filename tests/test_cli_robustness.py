"""The command under a demanding user: resumes that would mix settings, two writers, bad paths,
byte-order marks, scripts the model cannot write, too many keywords. Each ends in one line
and exit status 2, before the model loads where the input alone shows the problem."""
from __future__ import annotations

import json

import pytest
from conftest import make_tiny_lm

from textsearch import cli
from textsearch.tasks import locking
from textsearch.tasks.keywords import MAX_KEYWORDS, KeywordsToSentence

FAST = ["--steps", "2", "--chains", "1", "--top-k", "4"]


class Generators:
    """`make_generator` for `cli.main` that counts the model loads."""

    def __init__(self):
        self.loads = 0

    def __call__(self, args, device):
        self.loads += 1
        return KeywordsToSentence(make_tiny_lm(), steps=args.steps, chains=args.chains, top_k=args.top_k,
                                  init=args.init, top_p=args.top_p, particles=args.particles, max_len=8, draft_tokens=4)


def run(argv, capsys, generators=None):
    generators = generators or Generators()
    code = cli.main(argv, make_generator=generators)
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, message: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err


@pytest.fixture
def sets(tmp_path):
    path = tmp_path / "sets.txt"
    path.write_text("dog ball\ncat mat\n", encoding="utf-8")
    return path


def test_a_resume_with_other_settings_is_refused_and_can_be_forced(tmp_path, sets, capsys):
    out = tmp_path / "out.jsonl"
    first = ["keywords", "--input", str(sets), "--output", str(out), "--seed", "7", *FAST]
    assert run(first, capsys)[0] == 0
    lines = out.read_text().splitlines()
    out.write_text(lines[0] + "\n")                                  # stopped after one set
    code, _, err = run(["keywords", "--input", str(sets), "--output", str(out), "--seed", "8", "--init",
                        "keywords", *FAST], capsys)
    assert code == 2
    one_error(err, "was started with other settings (init 'smc' -> 'keywords', seed 7 -> 8)")
    assert out.read_text().splitlines() == lines[:1]                 # nothing written
    code, _, err = run([*first, "--particles", "4"], capsys)
    assert code == 2
    one_error(err, "was started with other settings (particles 16 -> 4)")
    assert run(first, capsys)[0] == 0                                # the same settings resume
    assert len(out.read_text().splitlines()) == 2
    out.write_text(lines[0] + "\n")
    forced = ["keywords", "--input", str(sets), "--output", str(out), "--seed", "8", "--force-resume", *FAST]
    assert run(forced, capsys)[0] == 0 and len(out.read_text().splitlines()) == 2
    assert json.loads((tmp_path / "out.jsonl.settings.json").read_text())["seed"] == 8


def test_results_from_before_settings_were_recorded_resume_with_a_warning(tmp_path, sets, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"keywords": ["dog", "ball"], "text": "a dog ."}) + "\n")
    code, _, err = run(["keywords", "--input", str(sets), "--output", str(out), "--seed", "4", *FAST], capsys)
    assert code == 0 and len(out.read_text().splitlines()) == 2
    assert err.startswith("warning: ") and "holds results but no record of their settings" in err
    assert json.loads((tmp_path / "out.jsonl.settings.json").read_text())["seed"] == 4


def test_a_second_writer_stops_at_once_before_loading_the_model(tmp_path, sets, capsys):
    out = tmp_path / "out.jsonl"
    generators = Generators()
    with locking.exclusive([locking.lock_path(str(out))]):           # a run in progress
        code, _, err = run(["keywords", "--input", str(sets), "--output", str(out), *FAST], capsys, generators)
    assert code == 2 and generators.loads == 0
    one_error(err, f"another textsearch run is writing {out}:")
    assert not out.exists()


@pytest.mark.parametrize("where, message", [("missing/out.jsonl", "No such file or directory"),
                                            ("readonly/out.jsonl", "Permission denied")])
def test_an_unwritable_output_fails_before_loading_the_model(tmp_path, sets, capsys, where, message):
    (tmp_path / "readonly").mkdir()
    (tmp_path / "readonly").chmod(0o555)
    generators = Generators()
    try:
        code, _, err = run(["keywords", "--input", str(sets), "--output", str(tmp_path / where), *FAST],
                           capsys, generators)
    finally:
        (tmp_path / "readonly").chmod(0o755)
    if message == "Permission denied" and code == 0:
        pytest.skip("running as root: every folder is writable")
    assert code == 2 and generators.loads == 0
    one_error(err, message)


def test_a_missing_input_fails_before_loading_the_model(tmp_path, capsys):
    generators = Generators()
    code, _, err = run(["keywords", "--input", str(tmp_path / "none.txt"), "--output", str(tmp_path / "o.jsonl")],
                       capsys, generators)
    assert code == 2 and generators.loads == 0
    one_error(err, "cannot read the input file")


def test_a_byte_order_mark_is_not_part_of_a_keyword(tmp_path, capsys):
    for name, line in [("words.txt", "dog ball\n"), ("sets.jsonl", '{"concept_set": "dog#ball"}\n')]:
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + line.encode())
        out = tmp_path / (name + ".out")
        assert run(["keywords", "--input", str(path), "--output", str(out), *FAST], capsys)[0] == 0
        assert json.loads(out.read_text())["keywords"] == ["dog", "ball"]
    code, out, _ = run(["keywords", "\ufeffdog", "ball", "--json", *FAST], capsys)
    assert code == 0 and json.loads(out)["keywords"] == ["dog", "ball"]


def test_too_many_keywords_fail_before_loading_the_model(capsys):
    generators = Generators()
    words = ["dog"] * (MAX_KEYWORDS + 1)
    code, _, err = run(["keywords", *words], capsys, generators)
    assert code == 2 and generators.loads == 0
    one_error(err, f"{MAX_KEYWORDS + 1} keywords: at most {MAX_KEYWORDS} per set")


def test_the_command_leaves_the_thread_setting_as_it_found_it(capsys, monkeypatch):
    import torch
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    seen = []

    class Spy(Generators):
        def __call__(self, args, device):
            seen.append(torch.get_num_threads())
            return super().__call__(args, device)

    assert run(["keywords", "dog", "--threads", "1", *FAST], capsys, Spy())[0] == 0
    assert seen == [1] and torch.get_num_threads() == before


def test_warnings_are_one_line_each(capsys):
    import warnings

    class Warns(Generators):
        def __call__(self, args, device):
            warnings.warn("the model cache X is damaged (y); converting the model again")
            return super().__call__(args, device)

    code, _, err = run(["keywords", "dog", *FAST], capsys, Warns())
    assert code == 0 and err.splitlines() == ["warning: the model cache X is damaged (y); converting the model again"]


def test_transformers_loading_bars_are_off_within_the_command_and_back_after(capsys):
    from transformers.utils import logging as transformers_logging
    seen = []

    class Spy(Generators):
        def __call__(self, args, device):
            seen.append(transformers_logging.is_progress_bar_enabled())
            return super().__call__(args, device)

    assert transformers_logging.is_progress_bar_enabled()
    assert run(["keywords", "dog", *FAST], capsys, Spy())[0] == 0
    assert seen == [False] and transformers_logging.is_progress_bar_enabled()


def test_a_filesystem_without_locks_warns_and_runs(tmp_path, monkeypatch):
    import errno

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locking.fcntl, "flock", no_locks)
    entered = []
    with pytest.warns(UserWarning, match="this filesystem cannot lock files"):
        with locking.exclusive([str(tmp_path / "out.jsonl.lock")]):
            entered.append(True)
    assert entered == [True]
