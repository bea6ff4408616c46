"""Does the keyword task's energy prefer what people write? A check of the energy, not of the outputs.

    python scripts/energy_vs_references.py out/bench_keywords/report.json        # every system of the report
    python scripts/energy_vs_references.py REPORT --model gemma3-270m           # the same energy on another LM

Each set of a bench_keywords report is scored under `KeywordsToSentence`'s search energy, all of
it (the whole sentence's log-probability after the few-shot prompt, the form and repetition
charges, the keyword constraint): each system's sentence and every human reference that uses all
the keywords. Where the energy scores a system's sentence lower than every reference, a search
under it is already past what people write, and more search or another sampler cannot make it read
more like a person; only the energy can. The table gives per system the sets compared (those with a
reference that uses every keyword), the share where some reference scores lower than the system's
sentence, and the median energy per token of the system's sentences and of the best reference (the
row `human` is CommonGen's first reference, against the others).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

HUMAN = "human"
Score = Callable[[list[str], list[str]], list[tuple[float, int]]]
"""(keywords, sentences) → per sentence (energy, tokens)."""


def systems_of(rows: list[dict]) -> list[str]:
    """The systems whose sentences a report's sets carry, the human row included."""
    return [key for key, value in rows[0].items() if isinstance(value, dict) and "text" in value]


def compare(rows: list[dict], systems: Sequence[str], score: Score, covers: Callable[[list[str], str], bool],
            progress: bool = False) -> dict:
    """Per system: sets compared, the share where some covering reference scores lower than its sentence,
    and the median energy per token of its sentences and of each set's best reference. Each set's
    sentences are scored in one call."""
    found = {system: {"preferred": [], "own": [], "reference": []} for system in systems}
    for row in tqdm(rows, desc="scoring sets", disable=not progress):
        covering = [k for k, r in enumerate(row["references"]) if covers(row["concepts"], r)]
        texts = list(dict.fromkeys([row[system]["text"] for system in systems] +
                                   [row["references"][k] for k in covering]))
        scores = dict(zip(texts, score(row["concepts"], texts)))
        for system in systems:
            theirs = [scores[row["references"][k]] for k in covering if not (system == HUMAN and k == 0)]
            if not theirs:
                continue
            (own, own_tokens), (best, best_tokens) = scores[row[system]["text"]], min(theirs)
            found[system]["preferred"].append(best < own)
            found[system]["own"].append(own / own_tokens)
            found[system]["reference"].append(best / best_tokens)
    return {system: {"sets": len(f["preferred"]),
                     "reference_preferred": statistics.fmean(f["preferred"]) if f["preferred"] else math.nan,
                     "energy_per_token": statistics.median(f["own"]) if f["own"] else math.nan,
                     "reference_energy_per_token": statistics.median(f["reference"]) if f["reference"] else math.nan}
            for system, f in found.items()}


def markdown(summary: dict) -> str:
    lines = ["| system | sets | some reference scores lower | median energy / token | best reference's, median |",
             "|---|---|---|---|---|"]
    for system, s in summary.items():
        lines.append(f"| {system} | {s['sets']} | {s['reference_preferred']:.1%} | {s['energy_per_token']:.2f} "
                     f"| {s['reference_energy_per_token']:.2f} |")
    return "\n".join(lines)


def task_score(model: str | None) -> tuple[Score, Callable[[list[str], str], bool]]:
    """The keyword task's search energy on `model` (None: the built-in one), as `compare` calls it."""
    import textsearch as ts
    from textsearch.objectives import Keywords
    from textsearch.tasks.keywords import KeywordsToSentence

    lm = ts.load_lm(model)
    generator = KeywordsToSentence(lm)

    def score(words: list[str], texts: list[str]) -> list[tuple[float, int]]:
        ids = [lm.encode(" " + text) for text in texts]               # as the search writes them, after "Sentence:"
        energies = (generator.sentence_energy(words) + Keywords(words))(ids).tolist()
        return [(energy, len(tokens) + 1) for energy, tokens in zip(energies, ids)]     # the end counts as a token

    return score, lambda words, text: not Keywords(words).missing(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a bench_keywords report.json")
    parser.add_argument("--model", default=None, help="the LM under the energy (default: the built-in one)")
    args = parser.parse_args()
    try:
        rows = json.loads(args.report.read_text(encoding="utf-8"))["sets"]
        systems = systems_of(rows)
    except (OSError, ValueError, KeyError, IndexError) as error:
        print(f"energy_vs_references: {args.report} is no bench_keywords report ({error})", file=sys.stderr)
        sys.exit(2)
    score, covers = task_score(args.model)
    print(markdown(compare(rows, systems, score, covers, progress=True)))


if __name__ == "__main__":
    main()
