"""A blind reading of keyword-to-sentence outputs: a shuffled sheet with no system names, and its key.

    python scripts/blind_sheet.py write out/bench_keywords/report.json --out out/blind   # sheet.tsv + key.json
    (mark every line of sheet.tsv: 1 natural, 0 not, by the rubric printed at its top)
    python scripts/blind_sheet.py score out/blind                                        # share natural per system
    python scripts/blind_sheet.py score out/blind --also reader2/sheet.tsv               # several readers, and how they agree

The sheet takes `--sets` seeded sets of the bench report. Each set gives one line per system
(its sentence) and one for the first human reference, all lines of all sets shuffled
together, so neither the system nor the set's other sentences sit beside a line. The key
(line id → system) stays in its own file until the marks are in.

With several readers (each marks a copy of the same sheet), the score gives each reader's shares,
their mean, and how far each two readers agree: the share of lines they marked alike and Cohen's κ,
their agreement beyond what their rates of 1 alone would give by chance (0: none, 1: full).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import random
import sys
from pathlib import Path

RUBRIC = "natural (1) = grammatical, a plausible everyday scene, each keyword used as a person would; else 0"
HUMAN = "human"
COLUMNS = ("id", "keywords", "sentence", "mark")


def sheet_lines(rows: list[dict], systems: list[str], sets: int, seed: int) -> list[dict]:
    """The shuffled lines of `sets` seeded rows: one per system and one human reference per set."""
    chosen = random.Random(seed).sample(rows, min(sets, len(rows)))
    lines = [{"keywords": " ".join(row["concepts"]), "sentence": row[system]["text"], "system": system}
             for row in chosen for system in systems]
    lines += [{"keywords": " ".join(row["concepts"]), "sentence": row["references"][0], "system": HUMAN}
              for row in chosen]
    random.Random(seed + 1).shuffle(lines)
    return [{"id": f"L{k:03d}", **line} for k, line in enumerate(lines)]


def write(report: Path, out: Path, sets: int, seed: int) -> None:
    if sets < 1:
        raise ValueError(f"--sets {sets}: a sheet needs at least one set")
    rows = json.loads(report.read_text(encoding="utf-8"))["sets"]
    systems = [key for key, value in rows[0].items() if isinstance(value, dict) and "text" in value and key != HUMAN]
    if not systems:
        raise SystemExit(f"{report}: no system outputs in its sets (expected entries with a 'text')")
    lines = sheet_lines(rows, systems, sets, seed)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sheet.tsv", "w", encoding="utf-8", newline="") as handle:
        handle.write(f"# {RUBRIC}\n")
        table = csv.writer(handle, delimiter="\t")
        table.writerow(COLUMNS)
        table.writerows([line["id"], line["keywords"], line["sentence"], ""] for line in lines)
    (out / "key.json").write_text(json.dumps({line["id"]: line["system"] for line in lines}, indent=1))
    print(f"{len(lines)} lines from {len(lines) // (len(systems) + 1)} sets and {len(systems)} systems + {HUMAN} "
          f"-> {out / 'sheet.tsv'} (mark it) and {out / 'key.json'} (keep it closed)")


def shares(marks: dict[str, int], key: dict[str, str]) -> dict[str, tuple[float, int]]:
    """Share of lines marked natural, and how many lines, per system."""
    unmarked = sorted(set(key) - set(marks))
    if unmarked:
        raise ValueError(f"{len(unmarked)} lines have no mark (e.g. {unmarked[0]}): mark each 1 or 0")
    systems: dict[str, list[int]] = {}
    for line, system in key.items():
        systems.setdefault(system, []).append(marks[line])
    return {system: (sum(m) / len(m), len(m)) for system, m in sorted(systems.items())}


def agreement(first: dict[str, int], second: dict[str, int]) -> tuple[float, float]:
    """The share of lines two readers marked alike, and Cohen's κ (nan where both marked every line alike
    with one mark: chance alone agrees then; both nan for no lines)."""
    lines = sorted(first)
    if not lines:
        return math.nan, math.nan
    alike = sum(first[k] == second[k] for k in lines) / len(lines)
    p, q = sum(first[k] for k in lines) / len(lines), sum(second[k] for k in lines) / len(lines)
    chance = p * q + (1 - p) * (1 - q)
    return alike, (alike - chance) / (1 - chance) if chance < 1 else math.nan


def read_sheet(sheet: Path) -> list[dict]:
    """A sheet's lines: id, keywords, sentence and mark (1, 0 or None where it is not marked yet)."""
    with open(sheet, encoding="utf-8-sig", newline="") as handle:       # a spreadsheet may add a byte-order mark
        table = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        if not table.fieldnames or not set(COLUMNS) <= set(table.fieldnames):
            raise ValueError(f"{sheet} is no blind_sheet sheet (expected the columns {', '.join(COLUMNS)})")
        lines = []
        for row in table:
            mark = (row["mark"] or "").strip()
            if mark not in ("", "0", "1"):
                raise ValueError(f"{sheet}, line {row['id']}: mark {mark!r} is not 1 or 0")
            lines.append({"id": row["id"], "keywords": row["keywords"], "sentence": row["sentence"],
                          "mark": int(mark) if mark else None})
    return lines


def score(out: Path, also: list[Path] = ()) -> None:
    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    paths = [out / "sheet.tsv", *also]
    sheets = [read_sheet(path) for path in paths]
    first = {line["id"]: line["sentence"] for line in sheets[0]}
    for sheet, lines in zip(also, sheets[1:]):         # a reader may have sorted the lines
        if {line["id"]: line["sentence"] for line in lines} != first:
            raise ValueError(f"{sheet} is not a copy of {paths[0]}: its lines differ")
    readers = [{line["id"]: line["mark"] for line in lines if line["mark"] is not None} for lines in sheets]
    per_reader = []
    for path, marks in zip(paths, readers):
        try:
            per_reader.append(shares(marks, key))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if len(readers) == 1:
        for system, (share, count) in per_reader[0].items():
            print(f"{system:<16} {share:6.1%} natural of {count}")
        return
    print(f"{'':<16} " + " ".join(f"reader {k + 1:<2}" for k in range(len(readers))) + "     mean")
    for system in per_reader[0]:
        values = [found[system][0] for found in per_reader]
        print(f"{system:<16} " + " ".join(f"{v:9.1%}" for v in values)
              + f" {sum(values) / len(values):8.1%}  of {per_reader[0][system][1]}")
    for a, b in itertools.combinations(range(len(readers)), 2):
        alike, kappa = agreement(readers[a], readers[b])
        print(f"readers {a + 1} and {b + 1} mark {alike:.1%} of lines alike, Cohen's kappa {kappa:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writing = commands.add_parser("write", help="the sheet and key from a bench_keywords report.json")
    writing.add_argument("report", type=Path)
    writing.add_argument("--out", type=Path, default=Path("out/blind"))
    writing.add_argument("--sets", type=int, default=40)
    writing.add_argument("--seed", type=int, default=0)
    scoring = commands.add_parser("score", help="shares natural per system from a marked sheet")
    scoring.add_argument("out", type=Path)
    scoring.add_argument("--also", type=Path, nargs="+", default=[],
                         help="other readers' marked copies of OUT/sheet.tsv")
    args = parser.parse_args()
    try:
        if args.command == "write":
            write(args.report, args.out, args.sets, args.seed)
        else:
            score(args.out, args.also)
    except (OSError, ValueError, KeyError) as error:
        print(f"blind_sheet: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
