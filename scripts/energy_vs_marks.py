"""Does an energy agree with a blind reading? A check of energies against marks they never saw.

    python scripts/energy_vs_marks.py out/blind/sheet.tsv                      # one marked sheet
    python scripts/energy_vs_marks.py readerA/sheet.tsv readerB/sheet.tsv       # several readers, several sheets
    python scripts/energy_vs_marks.py SHEETS --model gemma3-270m               # the same energies on another LM

A marked sheet of `blind_sheet.py` says which sentences read as natural. For every set of keywords,
each sentence marked natural is paired with each one marked not natural, both using every keyword
(the constraint already rules out the others), and an energy *agrees* on a pair when it scores the
natural sentence lower. Its agreement over all pairs says how well searching under it can pick what
a reader would: 0.5 is chance, and an energy near it cannot steer a search toward natural sentences
however well the search works. A sentence several readers marked counts by the mean of its marks
(above one half natural, below not, a tie left out).

A sentence a search chose under an energy scores low under it whatever a reader thinks of it, so
against a sheet of its own outputs and human references an energy shows how far what it chose is
from natural (far below one half); against sentences it did not choose (other systems' outputs, the
references) it shows how well it tells them apart.

Energies (all sums over the sentence and its end, as the searches score them):
- `search`: the keyword task's energy with its default settings, its log-probability after the
  few-shot prompt naming the keywords, with its form and repetition charges and its one-sentence
  constraint (a sentence of two is infinite: marked natural, it counts against the energy);
- `unprompted`: its log-probability after a plain-sentence context that names no keyword;
- `words`: the word count, how far preferring short sentences alone goes.

The interval is the 5–95% range of the agreement over sets drawn again with replacement.
"""
from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from blind_sheet import read_sheet
from energy_vs_references import covers, task_score

Score = Callable[[list[str], list[str]], list[float]]
"""(keywords, sentences) → an energy per sentence, lower for the sentence the energy prefers."""


def read_sheets(paths: Sequence[Path]) -> dict[str, dict[str, float]]:
    """Per keywords (as the sheet writes them), each marked sentence's mean mark over the sheets."""
    marks: dict[tuple[str, str], list[int]] = {}
    for path in paths:
        for line in read_sheet(path):
            if line["mark"] is not None:
                marks.setdefault((line["keywords"], line["sentence"]), []).append(line["mark"])
    if not marks:
        raise ValueError("no marked lines in " + ", ".join(map(str, paths)) + ": mark each line 1 or 0 first")
    sets: dict[str, dict[str, float]] = {}
    for (keywords, sentence), given in marks.items():
        sets.setdefault(keywords, {})[sentence] = statistics.fmean(given)
    return sets


def pairs_of(sets: dict[str, dict[str, float]], covers: Callable[[list[str], str], bool]
             ) -> dict[str, list[tuple[str, str]]]:
    """Per keywords, the (natural, not natural) pairs of its sentences that use every keyword."""
    found = {}
    for keywords, marked in sets.items():
        usable = {s: m for s, m in marked.items() if covers(keywords.split(), s)}
        natural = [s for s, m in usable.items() if m > 0.5]
        not_natural = [s for s, m in usable.items() if m < 0.5]
        if natural and not_natural:
            found[keywords] = list(itertools.product(natural, not_natural))
    return found


def agreements(pairs: dict[str, list[tuple[str, str]]], score: Score) -> dict[str, list[float]]:
    """Per keywords, per pair 1 where the energy scores the natural sentence lower, ½ on a tie, else 0.
    Each set's sentences are scored in one call."""
    found = {}
    for keywords, group in pairs.items():
        texts = list(dict.fromkeys(s for pair in group for s in pair))
        energy = dict(zip(texts, score(keywords.split(), texts), strict=True))
        found[keywords] = [1.0 if energy[a] < energy[b] else 0.5 if energy[a] == energy[b] else 0.0
                           for a, b in group]
    return found


def summary(agreed: dict[str, list[float]], draws: int = 1000, seed: int = 0) -> dict:
    """The agreement over all pairs, and its 5–95% interval over sets resampled with replacement."""
    groups = list(agreed.values())
    flat = [a for group in groups for a in group]
    rng = random.Random(seed)
    resampled = []
    for _ in range(draws):
        drawn = [a for group in rng.choices(groups, k=len(groups)) for a in group]
        resampled.append(statistics.fmean(drawn))
    resampled.sort()
    return {"sets": len(groups), "pairs": len(flat), "agreement": statistics.fmean(flat),
            "low": resampled[int(0.05 * draws)], "high": resampled[int(0.95 * draws) - 1]}


def markdown(summaries: dict[str, dict]) -> str:
    lines = ["| energy | sets | pairs | agrees with the marks | 5–95% |", "|---|---|---|---|---|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | {s['sets']} | {s['pairs']} | {s['agreement']:.3f} | {s['low']:.3f}–{s['high']:.3f} |")
    return "\n".join(lines)


def lm_energies(lm) -> dict[str, Score]:
    """The keyword task's search energy (default settings) and the unprompted fluency on `lm`, as
    `agreements` calls them."""
    from textsearch.objectives import Fluency
    from textsearch.tasks.sentences import PLAIN_CONTEXT, line_ends

    task, _ = task_score(lm, {})
    plain = Fluency(lm, gamma=1.0, end=line_ends(lm), context=PLAIN_CONTEXT)

    def search(words: list[str], texts: list[str]) -> list[float]:
        return [energy for energy, _ in task(words, texts)]

    def unprompted(words: list[str], texts: list[str]) -> list[float]:
        return plain([lm.encode(t) for t in texts]).tolist()

    return {"search": search, "unprompted": unprompted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sheets", type=Path, nargs="+", help="marked sheet.tsv files of blind_sheet.py")
    parser.add_argument("--model", default=None, help="the LM under the energies (default: the built-in one)")
    args = parser.parse_args()
    try:
        pairs = pairs_of(read_sheets(args.sheets), covers)
        if not pairs:
            raise ValueError("no set has both a natural and a not natural sentence that use every keyword")
        import textsearch as ts
        energies = lm_energies(ts.load_lm(args.model))
    except (OSError, ValueError, TypeError) as error:
        print(f"energy_vs_marks: {error}", file=sys.stderr)
        sys.exit(2)
    energies["words"] = lambda words, texts: [float(len(t.split())) for t in texts]
    print(f"{sum(map(len, pairs.values()))} pairs from {len(pairs)} sets, energies on "
          f"{args.model or 'the built-in model'}")
    print(markdown({name: summary(agreements(pairs, score)) for name, score in energies.items()}))


if __name__ == "__main__":
    main()
