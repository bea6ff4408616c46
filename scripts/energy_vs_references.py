"""Does the keyword task's energy prefer what people write? A check of the energy, not of the outputs.

    python scripts/energy_vs_references.py out/bench_keywords/report.json        # every system of the report
    python scripts/energy_vs_references.py REPORT --model gemma3-270m           # the same energy on another LM

Each set of a bench_keywords report is scored under `KeywordsToSentence`'s search energy, with the
settings the report's textsearch ran with, all of it (the whole sentence's log-probability after the
few-shot prompt, the form and repetition charges, the keyword and one-sentence constraints): each system's sentence,
CommonGen's first reference as the row `human`, and, as what they are held against, the set's other
references that use every keyword. Where the energy scores a system's sentence lower than every
reference, more search under it moves away from what people write; only another energy (a prompt, a
larger model) can move toward it. Every system is scored under this one energy, also those that
searched under another (draft, rejection, genlm).

The table gives per system: the sets compared (those with another reference that uses every
keyword and is one sentence), how many of its sentences there miss a keyword, the share of the others
where some reference scores lower (always, for a sentence the energy rules out as two sentences),
and the median energy per token (the end counted as one) of its sentences the energy admits and of
each set's best reference.
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

Score = Callable[[list[str], list[str]], list[tuple[float, int]]]
"""(keywords, sentences) → per sentence (energy, tokens)."""


def systems_of(rows: list[dict]) -> list[str]:
    """The systems whose sentences a report's sets carry, the human row included."""
    return [key for key, value in rows[0].items() if isinstance(value, dict) and "text" in value]


def compare(rows: list[dict], systems: Sequence[str], score: Score, covers: Callable[[list[str], str], bool],
            progress: bool = False) -> dict:
    """Per system: sets compared, sentences that miss a keyword, the share of the others where some
    covering reference (not the first, which is the human row) scores lower, and the median energy per
    token of its sentences the energy admits and of each set's best reference. A covering sentence the
    energy rules out otherwise (two sentences) counts as one where a reference scores lower; a reference
    it rules out is held against nothing. Each set is scored in one call."""
    found = {system: {"misses": 0, "preferred": [], "own": [], "reference": []} for system in systems}
    for row in tqdm(rows, desc="scoring sets", disable=not progress):
        references = [r for r in row["references"][1:] if covers(row["concepts"], r)]
        if not references:
            continue
        texts = list(dict.fromkeys([row[system]["text"] for system in systems] + references))
        scores = dict(zip(texts, score(row["concepts"], texts), strict=True))
        admitted = [scores[r] for r in references if math.isfinite(scores[r][0])]
        if not admitted:
            continue
        best, best_tokens = min(admitted)
        for system in systems:
            text = row[system]["text"]
            if not covers(row["concepts"], text):
                found[system]["misses"] += 1
                continue
            own, own_tokens = scores[text]
            found[system]["preferred"].append(best < own)
            if math.isfinite(own):
                found[system]["own"].append(own / own_tokens)
            found[system]["reference"].append(best / best_tokens)

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else math.nan

    return {system: {"sets": f["misses"] + len(f["preferred"]), "misses": f["misses"],
                     "reference_preferred": statistics.fmean(f["preferred"]) if f["preferred"] else math.nan,
                     "energy_per_token": median(f["own"]), "reference_energy_per_token": median(f["reference"])}
            for system, f in found.items()}


def markdown(summary: dict) -> str:
    """The summary as a table, "–" where a system has no covering sentence to compare."""
    number = lambda v, f: "–" if math.isnan(v) else format(v, f)       # noqa: E731
    lines = ["| system | sets | misses a keyword | some reference scores lower | median energy / token "
             "| best reference's, median |", "|---|---|---|---|---|---|"]
    for system, s in summary.items():
        lines.append(f"| {system} | {s['sets']} | {s['misses']} | {number(s['reference_preferred'], '.1%')} "
                     f"| {number(s['energy_per_token'], '.2f')} | {number(s['reference_energy_per_token'], '.2f')} |")
    return "\n".join(lines)


def covers(words: list[str], text: str) -> bool:
    """Whether `text` uses every keyword, as the keyword task checks it (any inflection counts)."""
    from textsearch.objectives import Keywords
    return not Keywords(words).missing(text)


def task_score(lm, settings: dict) -> tuple[Score, Callable[[list[str], str], bool]]:
    """The keyword task's search energy with these `KeywordsToSentence` settings, as `compare` calls it,
    and the keyword check it rests on."""
    from textsearch.objectives import Keywords
    from textsearch.tasks.keywords import KeywordsToSentence

    generator = KeywordsToSentence(lm, **settings)

    def score(words: list[str], texts: list[str]) -> list[tuple[float, int]]:
        ids = [lm.encode(" " + text) for text in texts]               # as the search writes them, after "Sentence:"
        energies = (generator.sentence_energy(words) + Keywords(words))(ids).tolist()
        return [(energy, len(tokens) + 1) for energy, tokens in zip(energies, ids)]

    return score, covers


def read_report(path: Path) -> tuple[list[dict], list[str], dict]:
    """The sets, systems and textsearch settings of a bench_keywords report; a ValueError if it is none."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        rows, settings = report["sets"], report.get("config", {}).get("options", {})
        if not isinstance(rows, list) or not all(isinstance(r, dict) and {"concepts", "references"} <= r.keys()
                                                 for r in rows):
            raise ValueError("its sets are not rows with concepts and references")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is no bench_keywords report ({error})") from None
    if not rows:
        raise ValueError(f"{path} has no sets")
    systems = systems_of(rows)
    if not systems:
        raise ValueError(f"{path}: no system outputs in its sets (expected entries with a 'text')")
    return rows, systems, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a bench_keywords report.json")
    parser.add_argument("--model", default=None, help="the LM under the energy (default: the built-in one)")
    args = parser.parse_args()
    try:
        rows, systems, settings = read_report(args.report)
        import textsearch as ts
        score, covers = task_score(ts.load_lm(args.model), settings)
    except (OSError, ValueError, TypeError) as error:
        print(f"energy_vs_references: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"energy: KeywordsToSentence({settings or 'defaults'}) on {args.model or 'the built-in model'}")
    print(markdown(compare(rows, systems, score, covers, progress=True)))


if __name__ == "__main__":
    main()
