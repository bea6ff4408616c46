"""Batch mode: input parsing, append-only resumable output, sharding and merging of parts.

The generator here is a cheap deterministic function of the keywords, so every test
checks the file logic exactly; the real search runs in test_batch_torchrun.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from textsearch.tasks import batch


def needs_letters(words: list[str]) -> None:
    for word in words:
        if not any(ch.isalpha() for ch in word):
            raise ValueError(f"keyword {word!r} has no letters")


def fake_generate(num: int, calls: list | None = None, packs: list | None = None):
    """A generator of concept sets; it records each set it ran in `calls` and each call's sets in `packs`."""
    def generate(sets: list[list[str]]) -> list[list[dict]]:
        if calls is not None:
            calls.extend(sets)
        if packs is not None:
            packs.append(sets)
        return [[{"keywords": words, "text": f"{' '.join(words)} #{i}", "energy": float(len(words) + i),
                  "covered": True, "steps": 1, "seconds": 0.0} for i in range(num)] for words in sets]
    return generate


def sets_of(*word_lists) -> list[batch.Item]:
    return [batch.Item(i + 1, tuple(words)) for i, words in enumerate(word_lists)]


SETS = sets_of(["dog", "frisbee", "catch"], ["cat", "couch"], ["field", "look", "stand"], ["kid", "dance"],
               ["sun", "beach", "sand", "wave"])


def read_lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("line, words", [
    ("dog frisbee catch", ["dog", "frisbee", "catch"]),
    ("dog,frisbee , catch", ["dog", "frisbee", "catch"]),
    ("  dog\tfrisbee  ", ["dog", "frisbee"]),
    ('{"concept_set": "field#look#stand", "scene": ["x"]}', ["field", "look", "stand"]),
    ('{"concept_set": "ice cream#cone"}', ["ice cream", "cone"]),
])
def test_parse_concept_set(line, words):
    assert batch.parse_concept_set(line) == words


@pytest.mark.parametrize("line, message", [
    ('{"concept_set": "a#b"', "not valid JSON"),
    ('{"concepts": "a#b"}', '"concept_set"'),
    ('{"concept_set": ["a", "b"]}', '"concept_set"'),
])
def test_parse_concept_set_rejects_malformed_json(line, message):
    with pytest.raises(ValueError, match=message):
        batch.parse_concept_set(line)


@pytest.mark.parametrize("line, sentence", [
    ("  The cat sat on the mat. ", "The cat sat on the mat."),
    ('{"text": "A dog runs, fast.", "id": 3}', "A dog runs, fast."),
])
def test_parse_sentence(line, sentence):
    assert batch.parse_sentence(line) == sentence


@pytest.mark.parametrize("line", ['{"text": "a"', '{"sentence": "a"}', '{"text": 3}'])
def test_parse_sentence_rejects_malformed_json(line):
    with pytest.raises(ValueError, match="JSON|\"text\""):
        batch.parse_sentence(line)


def test_sentence_inputs_resume_by_their_text(tmp_path):
    """A sentence task's lines name their input under "source"; a resume checks them as for keywords."""
    path, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    path.write_text("One sentence here.\n\nAnother one, with a comma.\n", encoding="utf-8")
    items, errors = batch.read_items(str(path), batch.parse_sentence)
    assert items == [batch.Item(1, "One sentence here."), batch.Item(3, "Another one, with a comma.")] and not errors
    calls = []

    def generate(sources):
        calls.append(sources)
        return [[{"source": s, "text": s.upper()}] for s in sources]

    batch.run_batch(items[:1], str(out), generate, progress=False, key="source")
    batch.run_batch(items, str(out), generate, progress=False, key="source")
    assert calls == [["One sentence here."], ["Another one, with a comma."]]
    assert [line["text"] for line in read_lines(out)] == ["ONE SENTENCE HERE.", "ANOTHER ONE, WITH A COMMA."]
    with pytest.raises(ValueError, match="where this input has"):
        batch.run_batch([batch.Item(1, "Something else.")] + items[1:], str(out), generate, progress=False,
                        key="source")


def test_read_items_reports_bad_lines_with_numbers_and_keeps_the_rest(tmp_path):
    path = tmp_path / "sets.txt"
    path.write_text("dog frisbee catch\n\n123 456\n{broken\ncat, couch\n", encoding="utf-8")
    sets, errors = batch.read_items(str(path), check=needs_letters)
    assert sets == [batch.Item(1, ("dog", "frisbee", "catch")), batch.Item(5, ("cat", "couch"))]
    assert len(errors) == 2
    assert errors[0].startswith(f"{path}:3: ") and "no letters" in errors[0]
    assert errors[1].startswith(f"{path}:4: ") and "JSON" in errors[1]


def test_read_items_unreadable_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read the input file"):
        batch.read_items(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="cannot read the input file"):
        batch.read_items(str(tmp_path))                       # a directory
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00dog")
    with pytest.raises(ValueError, match="cannot read the input file"):
        batch.read_items(str(binary))


@pytest.mark.parametrize("num", [1, 2])
def test_run_batch_writes_every_set_in_order(tmp_path, num):
    out = tmp_path / "out.jsonl"
    assert batch.run_batch(SETS, str(out), fake_generate(num), num=num, progress=False) == len(SETS)
    lines = read_lines(out)
    assert [line["keywords"] for line in lines] == [list(s.value) for s in SETS for _ in range(num)]
    assert [line["text"][-2:] for line in lines] == [f"#{i}" for _ in SETS for i in range(num)]
    assert not list(tmp_path.glob("out.jsonl.part*"))


def test_rerun_of_a_finished_batch_does_nothing(tmp_path):
    out = tmp_path / "out.jsonl"
    batch.run_batch(SETS, str(out), fake_generate(1), progress=False)
    before = out.read_bytes()
    calls = []
    assert batch.run_batch(SETS, str(out), fake_generate(1, calls), progress=False) == 0
    assert calls == [] and out.read_bytes() == before


@pytest.mark.parametrize("num, kept_lines, tail", [
    (1, 2, b'{"keywords": ["field", "lo'),            # half-written line after two finished sets
    (2, 5, b""),                                       # set 3 has one of its two lines
    (2, 5, b'{"keywords": ["field"'),                  # ... and half of the second
    (1, 0, b'{"key'),                                  # killed inside the very first line
])
def test_resume_after_an_interrupted_run(tmp_path, num, kept_lines, tail):
    reference = tmp_path / "reference.jsonl"
    batch.run_batch(SETS, str(reference), fake_generate(num), num=num, progress=False)
    complete = reference.read_bytes().splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(complete[:kept_lines]) + tail)
    calls = []
    batch.run_batch(SETS, str(out), fake_generate(num, calls), num=num, progress=False)
    assert out.read_bytes() == reference.read_bytes()
    assert calls == [list(s.value) for s in SETS[kept_lines // num:]]


def test_packs_are_consecutive_sets_aligned_to_the_input(tmp_path):
    out, packs = tmp_path / "out.jsonl", []
    batch.run_batch(SETS, str(out), fake_generate(1, packs=packs), pack=2, progress=False)
    assert packs == [[list(s.value) for s in SETS[i:i + 2]] for i in (0, 2, 4)]
    reference = tmp_path / "reference.jsonl"
    batch.run_batch(SETS, str(reference), fake_generate(1), progress=False)
    assert out.read_bytes() == reference.read_bytes()


def test_resume_runs_a_pack_finished_in_part_whole_and_writes_what_it_lacks(tmp_path):
    reference = tmp_path / "reference.jsonl"
    batch.run_batch(SETS, str(reference), fake_generate(1), pack=2, progress=False)
    out, packs = tmp_path / "out.jsonl", []
    out.write_bytes(b"".join(reference.read_bytes().splitlines(keepends=True)[:3]))     # pack 1 half written
    batch.run_batch(SETS, str(out), fake_generate(1, packs=packs), pack=2, progress=False)
    assert packs == [[list(s.value) for s in SETS[2:4]], [list(SETS[4].value)]]
    assert out.read_bytes() == reference.read_bytes()


def test_resume_refuses_an_output_of_another_input(tmp_path):
    out = tmp_path / "out.jsonl"
    batch.run_batch(SETS[1:], str(out), fake_generate(1), progress=False)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="choose another --output"):
        batch.run_batch(SETS, str(out), fake_generate(1), progress=False)
    assert out.read_bytes() == before


def test_resume_never_cuts_into_the_results_of_a_longer_input(tmp_path):
    out = tmp_path / "out.jsonl"
    batch.run_batch(SETS, str(out), fake_generate(1), progress=False)
    before = out.read_bytes()
    for fewer in ([], SETS[:2]):
        with pytest.raises(ValueError, match="more than the"):
            batch.run_batch(fewer, str(out), fake_generate(1), progress=False)
    with pytest.raises(ValueError, match="choose another --output"):           # num 2: line 2 is not set 0's
        batch.run_batch(SETS, str(out), fake_generate(2), num=2, progress=False)
    assert out.read_bytes() == before


def test_resume_refuses_a_file_that_is_not_jsonl(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="not a results file"):
        batch.run_batch(SETS, str(out), fake_generate(1), progress=False)


def run_ranks(sets, out, generate, num, world, calls_per_rank=None, pack=1, packs_per_rank=None):
    """Run `world` ranks as threads that share a real barrier, like torchrun processes."""
    barrier = threading.Barrier(world)
    errors = []

    def rank_main(rank):
        try:
            generator = generate if calls_per_rank is None else \
                fake_generate(num, calls_per_rank[rank], packs_per_rank[rank] if packs_per_rank else None)
            batch.run_batch(sets, str(out), generator, num=num, pack=pack, rank=rank, world=world,
                            barrier=lambda: barrier.wait(timeout=30), progress=False)
        except Exception as error:       # noqa: BLE001 - surfaced below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("world, num", [(2, 1), (3, 2)])
def test_sharded_run_merges_to_the_single_process_output(tmp_path, world, num):
    single = tmp_path / "single.jsonl"
    batch.run_batch(SETS, str(single), fake_generate(num), num=num, progress=False)
    out = tmp_path / "out.jsonl"
    calls = [[] for _ in range(world)]
    run_ranks(SETS, out, None, num, world, calls)
    assert out.read_bytes() == single.read_bytes()
    assert not list(tmp_path.glob("out.jsonl.part*"))
    ran = [words for rank_calls in calls for words in rank_calls]
    assert sorted(map(tuple, ran)) == sorted(s.value for s in SETS)     # each set once, on some rank
    assert all(rank_calls for rank_calls in calls)                         # every rank took a share


def test_ranks_take_whole_packs_in_turn(tmp_path):
    single = tmp_path / "single.jsonl"
    batch.run_batch(SETS, str(single), fake_generate(1), progress=False)
    out = tmp_path / "out.jsonl"
    calls, packs = [[], []], [[], []]
    run_ranks(SETS, out, None, 1, 2, calls, pack=2, packs_per_rank=packs)
    keywords = [list(s.value) for s in SETS]
    assert packs == [[keywords[0:2], keywords[4:5]], [keywords[2:4]]]
    assert out.read_bytes() == single.read_bytes()


def test_sharded_resume_keeps_finished_parts_and_output_prefix(tmp_path):
    single = tmp_path / "single.jsonl"
    batch.run_batch(SETS, str(single), fake_generate(1), progress=False)
    lines = single.read_bytes().splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    out.write_bytes(lines[0])                                           # set 0 finished by an earlier run
    part = tmp_path / "out.jsonl.part1"                                 # set 3 finished by a rank; set 2 cut short
    part.write_text(json.dumps({"set": 3, **json.loads(lines[3])}) + "\n" + '{"set": 2, "keyw')
    calls = [[] for _ in range(2)]
    run_ranks(SETS, out, None, 1, 2, calls)
    assert out.read_bytes() == single.read_bytes()
    assert sorted(tuple(w) for c in calls for w in c) == sorted(SETS[i].value for i in (1, 2, 4))


def test_single_process_finishes_a_sharded_run(tmp_path):
    single = tmp_path / "single.jsonl"
    batch.run_batch(SETS, str(single), fake_generate(1), progress=False)
    lines = single.read_bytes().splitlines(keepends=True)
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.part0").write_text(json.dumps({"set": 0, **json.loads(lines[0])}) + "\n")
    (tmp_path / "out.jsonl.part1").write_text(json.dumps({"set": 1, **json.loads(lines[1])}) + "\n")
    calls = []
    batch.run_batch(SETS, str(out), fake_generate(1, calls), progress=False)
    assert out.read_bytes() == single.read_bytes()
    assert calls == [list(s.value) for s in SETS[2:]]
    assert not list(tmp_path.glob("out.jsonl.part*"))


KILLABLE = textwrap.dedent("""
    import sys, time
    from textsearch.tasks import batch
    sets = [batch.Item(i + 1, (f"word{i}", "other")) for i in range(40)]
    def generate(packed):
        time.sleep(0.02)
        return [[{"keywords": words, "text": " ".join(words) * 50, "energy": 1.0, "covered": True,
                  "steps": 1, "seconds": 0.0}] for words in packed]
    batch.run_batch(sets, sys.argv[1], generate, progress=False)
""")


def test_killed_process_restarts_without_losing_or_duplicating_lines(tmp_path):
    out = tmp_path / "out.jsonl"
    script = tmp_path / "run.py"
    script.write_text(KILLABLE)
    process = subprocess.Popen([sys.executable, str(script), str(out)])
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size < 4000) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    interrupted = len(out.read_bytes().splitlines())
    assert 0 < interrupted < 40, "the run was not interrupted midway; the test proves nothing"
    subprocess.run([sys.executable, str(script), str(out)], check=True, timeout=120)
    keywords = [line["keywords"][0] for line in read_lines(out)]
    assert keywords == [f"word{i}" for i in range(40)]
