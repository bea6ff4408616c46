"""Batch mode for every task: inputs from a file (concept sets, sentences), results appended to a JSONL file.

Append-only and resumable: a set's lines are written in one flushed write, in input
order, so a killed run leaves a prefix of the final file (perhaps ending in a
half-written line, which a restart drops) and a restart with the same arguments
carries on where it stopped. Inputs ("sets" below) run in packs of `pack` consecutive ones (set i
in pack i // pack), whose drafts share forwards; a restart runs a pack it finished
only in part again whole and writes the sets it lacks, so every set is generated in
the same company as in an uninterrupted run. Under torchrun rank r runs the packs
r, r + world, … and appends them to its own part file, each line tagged with its
set's index; when all ranks are done, rank 0 merges the parts into the output in
input order. A set's result depends on the seed, the set and its pack, never on
the rank that ran it, so the merged file equals a single-process run's.
"""
from __future__ import annotations

import glob
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Sequence

from tqdm.auto import tqdm

Generate = Callable[[list], list[list[dict]]]               # inputs -> per input, `num` result records


@dataclass(frozen=True)
class Item:
    line: int                      # 1-based line number in the input file
    value: tuple[str, ...] | str   # a concept set's keywords, or a sentence


def given(value: tuple[str, ...] | str) -> list[str] | str:
    """An input as the generator takes it and its result records name it: keywords as a list."""
    return list(value) if isinstance(value, tuple) else value


def parse_concept_set(line: str) -> list[str]:
    """Keywords of one input line: CommonGen JSON ("concept_set": "a#b#c") or words split by spaces/commas."""
    text = line.strip()
    if text.startswith("{"):
        concept_set = json_field(text, "concept_set", '"dog#frisbee#catch"')
        return [word.strip() for word in concept_set.split("#") if word.strip()]
    return [word for word in re.split(r"[\s,]+", text) if word]


def parse_sentence(line: str) -> str:
    """The sentence of one input line: the line itself, or the "text" of a JSON object."""
    text = line.strip()
    return json_field(text, "text", '"The cat sat on the mat."').strip() if text.startswith("{") else text


def json_field(text: str, field: str, example: str) -> str:
    """The string `field` of a JSON object line; a ValueError that says what the line lacks."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    value = record.get(field) if isinstance(record, dict) else None
    if not isinstance(value, str):
        raise ValueError(f'a JSON line needs a "{field}" string such as {example}')
    return value


def read_items(path: str, parse: Callable[[str], list[str] | str] = parse_concept_set,
               check: Callable[[list[str] | str], object] = lambda value: None) -> tuple[list[Item], list[str]]:
    """The usable inputs of a file, one per line as `parse` reads it, and one error message per malformed line.

    `check(value)` raises ValueError for an input the generator cannot take (no letters,
    too long); blank lines are skipped.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:       # a byte-order mark is not part of the text
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the input file {path!r}: {getattr(error, 'strerror', None) or error}") from None
    sets, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = parse(line)
            check(value)
        except ValueError as error:
            errors.append(f"{path}:{number}: {error}")
            continue
        sets.append(Item(number, tuple(value) if isinstance(value, list) else value))
    return sets, errors


def usable(sets: Sequence[Item], check: Callable[[list[str] | str], object], path: str
           ) -> tuple[list[Item], list[str]]:
    """The inputs that pass `check` (a ValueError for one the generator cannot take), and a message per other."""
    kept, errors = [], []
    for item in sets:
        try:
            check(given(item.value))
        except ValueError as error:
            errors.append(f"{path}:{item.line}: {error}")
            continue
        kept.append(item)
    return kept, errors


def complete_lines(path: str) -> tuple[list[dict], list[int]]:
    """The parsed newline-terminated lines of a JSONL file and the byte offset after each.

    A last line without a newline is a write cut short by a kill: it is left out.
    """
    if not os.path.exists(path):
        return [], []
    with open(path, "rb") as handle:
        data = handle.read()
    records, ends, start = [], [], 0
    while (newline := data.find(b"\n", start)) >= 0:
        try:
            records.append(json.loads(data[start:newline]))
        except json.JSONDecodeError:
            raise ValueError(f"{path} is not a results file of this command (a line is not JSON): "
                             "choose another --output") from None
        ends.append(newline + 1)
        start = newline + 1
    return records, ends


def finished_prefix(path: str, sets: Sequence[Item], num: int, key: str = "keywords") -> tuple[list[dict], int]:
    """Result lines of the sets that the output already holds in full, and the byte length they take;
    each line names its input under `key`."""
    records, ends = complete_lines(path)
    if len(records) > len(sets) * num:
        raise ValueError(f"{path} holds {len(records)} lines, more than the {len(sets) * num} this input gives: "
                         "choose another --output")
    done = len(records) // num
    for j, record in enumerate(records):
        expected = given(sets[j // num].value)
        if record.get(key) != expected:
            raise ValueError(f"{path} line {j + 1} holds {record.get(key)!r} where this input has {expected!r} "
                             "(a different input, --num or file): choose another --output")
    return records[:done * num], ends[done * num - 1] if done else 0


def finished_parts(output: str, num: int) -> dict[int, list[dict]]:
    """Complete groups of result lines in the part files, by set index."""
    groups: dict[int, list[dict]] = {}
    for part in sorted(glob_parts(output)):
        pending: list[dict] = []
        for record in complete_lines(part)[0]:
            pending.append(record)
            if len(pending) == num:
                groups[pending[0]["set"]] = pending
                pending = []
    return groups


def glob_parts(output: str) -> list[str]:
    """The part files that torchrun ranks write beside `output`."""
    return glob.glob(glob.escape(output) + ".part*")


def truncate(path: str, length: int) -> None:
    """Drop a tail that a killed run left half-written; complete lines stay as they were."""
    if os.path.exists(path) and os.path.getsize(path) > length:
        with open(path, "r+b") as handle:
            handle.truncate(length)


def part_path(output: str, rank: int) -> str:
    return f"{output}.part{rank}"


def kept_length(path: str, num: int) -> int:
    """Bytes of a part file up to its last complete group of `num` lines."""
    ends = complete_lines(path)[1]
    whole = len(ends) // num * num
    return ends[whole - 1] if whole else 0


def append(path: str, records: list[dict]) -> None:
    """One write per set, flushed to disk, so a kill loses at most the set in progress."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        handle.flush()
        os.fsync(handle.fileno())


def run_batch(sets: Sequence[Item], output: str, generate: Generate, num: int = 1, pack: int = 1,
              rank: int = 0, world: int = 1, barrier: Callable[[], None] = lambda: None,
              progress: bool = True, key: str = "keywords", unit: str = "concept sets") -> int:
    """Generate `num` lines for every set not already in `output`; returns how many sets ran here.

    With one process and no part files the lines go straight to `output`; otherwise each
    rank writes `output.part<rank>` and rank 0 merges once every rank has passed `barrier`.
    """
    prefix, prefix_length = finished_prefix(output, sets, num, key)
    done_in_output = len(prefix) // num
    use_parts = world > 1 or bool(glob_parts(output))
    parts = finished_parts(output, num) if use_parts else {}
    done = set(range(done_in_output)) | set(parts)
    packs = [range(start, min(start + pack, len(sets))) for start in range(0, len(sets), pack)]
    mine = [p for k, p in enumerate(packs) if k % world == rank and not done.issuperset(p)]
    barrier()                                   # every rank has read the state before anyone writes
    target = part_path(output, rank) if use_parts else output
    if use_parts:
        truncate(target, kept_length(target, num))
    else:
        truncate(output, prefix_length)
    bar = tqdm(total=sum(len(p) for p in mine), desc=unit, unit="set",
               disable=not progress or rank != 0, dynamic_ncols=True)
    ran = 0
    for indices in mine:
        results = generate([given(sets[i].value) for i in indices])
        for index, records in zip(indices, results):
            if len(records) != num:
                raise ValueError(f"the generator returned {len(records)} results for one set, expected {num}")
            if index not in done:
                append(target, [{"set": index, **r} for r in records] if use_parts else records)
        ran += len(indices)
        bar.update(len(indices))
    bar.close()
    barrier()                                   # every part is complete
    if use_parts and rank == 0:
        merge(output, prefix, done_in_output, finished_parts(output, num), len(sets))
    return ran


def merge(output: str, prefix: list[dict], done: int, parts: dict[int, list[dict]], total: int) -> None:
    """Write the output in input order from its first `done` sets' lines and the parts, then drop the parts."""
    missing = [i for i in range(done, total) if i not in parts]
    if missing:
        raise RuntimeError(f"cannot merge: sets {missing[:5]} have no results in the part files")
    temporary = output + ".merging"
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in prefix:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        for index in range(done, total):
            for record in parts[index]:
                record = {key: value for key, value in record.items() if key != "set"}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, output)
    for part in glob_parts(output):
        os.remove(part)


@contextmanager
def process_group():
    """(rank, world size, barrier) under torchrun; (0, 1, no-op) otherwise.

    gloo carries only the two barriers, so it serves CPU and GPU ranks alike; the long
    timeout lets fast ranks wait for slow shards (torchrun stops the group if one dies).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield 0, 1, lambda: None
        return
    import torch.distributed as dist
    dist.init_process_group("gloo", timeout=timedelta(hours=24))
    try:
        yield dist.get_rank(), dist.get_world_size(), dist.barrier
    finally:
        dist.destroy_process_group()
