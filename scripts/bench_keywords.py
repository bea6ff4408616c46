"""Keyword-to-sentence on CommonGen dev, side by side, judged by measures the energy does not share.

    python scripts/bench_keywords.py                      # the seeded 102 sets, 34 each of 3, 4 and 5 concepts
    python scripts/bench_keywords.py --full               # all 993
    python scripts/bench_keywords.py --limit 8            # a smoke run
    python scripts/bench_keywords.py --systems textsearch,draft --option beta=2     # a variant of (a)
    python scripts/bench_keywords.py --peer-python PEER/bin/python                 # genlm-control too
    python scripts/bench_keywords.py --systems textsearch,draft,rejection,genlm --keep ...  # add one, judge all

Systems, each run in a process of its own on the same sets, in batch mode (packs of `PACK` sets):
  textsearch  `KeywordsToSentence` with the library defaults (`--option name=value` changes one)
  draft       the previous default: prompted drafts, missing keywords inserted, repaired under SLOR
  rejection   best-of-N: rounds of prompted drafts (the same few-shot prompt, the LM at temperature 1)
              until textsearch's time for the pack is spent; of the drafts that use every keyword,
              the one the LM finds likeliest per token (else the one missing fewest)
  genlm       genlm-control's SMC over the same weights and prompt (scripts/peer_genlm.py, run with
              --peer-python, a venv with the `peers` extra)
  human       CommonGen's first reference (BLEU against the other references)
Judges, for every system: the share of sets that use every keyword (lemma-aware); BLEU-4 (sacrebleu)
against the references; Gemma-3-270M's NLL per token of the sentence after a few-shot prompt unlike
textsearch's (the conditional judge), and with no prompt; SLOR (reported, never a target); median and
p90 seconds per set; the system process's peak RSS; and the mean words per sentence, since a
per-token NLL falls as a sentence grows (its first words are the least predictable). OUT/report.json
carries every row and judge (the input of scripts/blind_sheet.py), OUT/table.md the table, which is
also printed.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import textsearch as ts
from textsearch.objectives import Fluency, Keywords
from textsearch.proposals.lm_sampler import sample_together
from textsearch.tasks import keywords as task
from textsearch.tasks.keyword_prompts import few_shot

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "commongen" / "dev.jsonl"
SYSTEMS = ("textsearch", "draft", "rejection", "genlm")
HUMAN = "human"
ROUND = 16                 # rejection: drafts per set per round
JUDGE_PROMPT = "".join(f"Words: {w}\nA sentence with all of them: {s}\n\n" for w, s in [
    ("dog / frisbee / throw", "She throws the frisbee and her dog leaps to catch it."),
    ("market / apple / buy / woman", "A woman buys apples at the market."),
    ("snow / shovel / driveway", "He shovels the snow off the driveway."),
    ("bike / ride / child / park", "The children ride their bikes in the park."),
]) + "Words: {words}\nA sentence with all of them:"
"""Not textsearch's prompt: other words, another layout, and a model the energy never sees."""


def load_sets(path: Path, per_size: int, full: bool, seed: int) -> list[dict]:
    """Seeded sample stratified by concept count (3, 4, 5), in file order within the sample."""
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    sets = [{"index": i, "concepts": row["concept_set"].split("#"), "references": row["scene"]}
            for i, row in enumerate(rows)]
    if full:
        return sets
    rng = random.Random(seed)
    chosen = []
    for size in (3, 4, 5):
        stratum = [s for s in sets if len(s["concepts"]) == size]
        chosen += rng.sample(stratum, min(per_size, len(stratum)))
    return sorted(chosen, key=lambda s: s["index"])


def options(pairs: list[str]) -> dict:
    """`name=value` pairs as `KeywordsToSentence` keyword arguments (numbers parsed)."""
    parsed = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            parsed[name] = json.loads(value)
        except json.JSONDecodeError:
            parsed[name] = value
    return parsed


def run_textsearch(lm, sets: list[dict], settings: dict, seed: int) -> list[dict]:
    generator = task.KeywordsToSentence(lm, **settings)
    rows = []
    for start in range(0, len(sets), task.PACK):
        pack = [s["concepts"] for s in sets[start:start + task.PACK]]
        for results in generator.generate(pack, seed=seed):
            rows.append({"text": results[0].text, "seconds": results[0].seconds})
        print(f"  {len(rows)}/{len(sets)} sets", file=sys.stderr, flush=True)
    return rows


def run_rejection(lm, sets: list[dict], budgets: list[float], seed: int) -> list[dict]:
    rows = []
    for start in range(0, len(sets), task.PACK):
        pack = sets[start:start + task.PACK]
        shots = [few_shot(s["concepts"]) for s in pack]
        samplers = [ts.proposals.LMSampler(lm, prompt=shot.prompt(s["concepts"]), max_new_tokens=task.MAX_LEN,
                                           stop_at=("\n",), opening=shot.examples) for s, shot in zip(pack, shots)]
        generators = [torch.Generator().manual_seed(task.seed_for(seed, s["concepts"])) for s in pack]
        keywords = [Keywords(s["concepts"]) for s in pack]
        best = [(math.inf, math.inf, "")] * len(pack)          # (keywords missing, −log p per token, text)
        budget, started, drawn = sum(budgets[start:start + len(pack)]), time.perf_counter(), 0
        while drawn == 0 or time.perf_counter() - started < budget:
            for k, (tokens, log_q) in enumerate(sample_together(samplers, ROUND, generators)):
                for ids, lq in zip(tokens, log_q.tolist()):
                    text = task.trimmed(lm.decode(ids))
                    if text:
                        best[k] = min(best[k], (len(keywords[k].missing(text)), -lq / (len(ids) + 1), text))
            drawn += ROUND
        seconds = (time.perf_counter() - started) / len(pack)
        rows += [{"text": text, "seconds": seconds, "drafts": drawn} for _, _, text in best]
        print(f"  {len(rows)}/{len(sets)} sets", file=sys.stderr, flush=True)
    return rows


def run_system(system: str, out: Path, settings: dict, seed: int) -> None:
    """One system on the chosen sets (OUT/sets.json) → OUT/SYSTEM.json, with this process's peak RSS."""
    sets = json.loads((out / "sets.json").read_text())
    lm = ts.load_lm()
    if system == "textsearch":
        rows = run_textsearch(lm, sets, settings, seed)
    elif system == "draft":
        rows = run_textsearch(lm, sets, {**settings, "init": "draft"}, seed)
    else:
        budgets = [row["seconds"] for row in json.loads((out / "textsearch.json").read_text())["rows"]]
        rows = run_rejection(lm, sets, budgets, seed)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20         # KiB → GiB
    (out / f"{system}.json").write_text(json.dumps({"rows": rows, "peak_rss_gb": rss, "settings": settings}))


def judge(judge_lm, sets: list[dict], texts: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Per system and set: Gemma's NLL per token after JUDGE_PROMPT (the end of the line counted), its
    unprompted NLL per token, and SLOR (per word, wordfreq unigrams)."""
    from wordfreq import tokenize, word_frequency
    scores = {system: [] for system in texts}
    for k, item in enumerate(sets):
        prompt = JUDGE_PROMPT.format(words=" / ".join(item["concepts"]))
        conditional = Fluency(judge_lm, gamma=1.0, length_norm=True, context=prompt, end=["\n"])
        systems = list(texts)
        lines = [texts[system][k] for system in systems]
        cond = conditional([judge_lm.encode(" " + line) for line in lines]).tolist()
        plain = judge_lm.token_log_probs(lines)
        for system, line, c, lp in zip(systems, lines, cond, plain):
            words = tokenize(line, "en")
            unigram = sum(math.log(max(word_frequency(w, "en"), 1e-9)) for w in words)
            scores[system].append({"conditional_nll": c, "nll": -lp.mean().item(),
                                   "slor": (lp.sum().item() - unigram) / len(words) if words else math.nan})
    return scores


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarise(sets: list[dict], system: str) -> dict:
    import sacrebleu
    outputs = [item[system] for item in sets]
    references = [item["references"][1:] if system == HUMAN else item["references"] for item in sets]
    width = max(map(len, references))
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    mean = lambda key: statistics.fmean(o[key] for o in outputs if not math.isnan(o[key]))     # noqa: E731
    seconds = [o["seconds"] for o in outputs if o.get("seconds") is not None]
    return {"sets": len(sets), "all_keywords": statistics.fmean(o["covered"] for o in outputs),
            "bleu4": sacrebleu.corpus_bleu([o["text"] for o in outputs], streams).score,
            "conditional_nll": mean("conditional_nll"), "nll": mean("nll"), "slor": mean("slor"),
            "words": statistics.fmean(len(o["text"].split()) for o in outputs),
            "median_s": statistics.median(seconds) if seconds else None,
            "p90_s": percentile(seconds, 0.9) if seconds else None, "peak_rss_gb": outputs[0].get("peak_rss_gb")}


def markdown(summary: dict[str, dict]) -> str:
    number = lambda v, f: "–" if v is None else format(v, f)      # noqa: E731
    lines = ["| system | sets | all keywords | BLEU-4 | NLL/token, Gemma after its prompt | NLL/token, Gemma "
             "| SLOR | words | median s/set | p90 s/set | peak RSS GB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for system, s in summary.items():
        lines.append(f"| {system} | {s['sets']} | {s['all_keywords']:.1%} | {s['bleu4']:.2f} | {s['conditional_nll']:.3f} "
                     f"| {s['nll']:.3f} | {s['slor']:.3f} | {s['words']:.1f} | {number(s['median_s'], '.2f')} "
                     f"| {number(s['p90_s'], '.2f')} | {number(s['peak_rss_gb'], '.2f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-size", type=int, default=34, help="sets per concept count 3/4/5 (default 34)")
    parser.add_argument("--full", action="store_true", help="all sets of the file")
    parser.add_argument("--limit", type=int, default=None, help="only the first N chosen sets (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--systems", default="textsearch,draft,rejection", help=f"comma-separated, of {SYSTEMS}")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a KeywordsToSentence setting for textsearch (and draft), e.g. particles=32")
    parser.add_argument("--peer-python", type=Path, default=None,
                        help="the Python of a venv with genlm-control (see scripts/peer_genlm.py)")
    parser.add_argument("--peer-particles", type=int, default=8, help="genlm-control's particles per set (default 8)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_keywords"))
    parser.add_argument("--keep", action="store_true",
                        help="do not run again the systems whose outputs are in --out (same sets); judge them all")
    parser.add_argument("--run", choices=SYSTEMS, default=None, help=argparse.SUPPRESS)     # a system's own process
    args = parser.parse_args()
    settings = options(args.option)
    if args.run:
        return run_system(args.run, args.out, settings, args.seed)
    systems = [s for s in args.systems.split(",") if s]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown systems {unknown}: choose from {SYSTEMS}")
    if "genlm" in systems and args.peer_python is None:
        parser.error("genlm runs in a venv with genlm-control: give its Python with --peer-python")
    if "rejection" in systems and "textsearch" not in systems and not (args.out / "textsearch.json").exists():
        parser.error("rejection spends textsearch's time per pack: run textsearch too")
    sets = load_sets(args.data, args.per_size, args.full, args.seed)[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.keep and (args.out / "sets.json").exists() and json.loads((args.out / "sets.json").read_text()) != sets:
        parser.error(f"--keep: {args.out} holds the outputs of other sets; give the same sets or another --out")
    (args.out / "sets.json").write_text(json.dumps(sets))
    for system in sorted(systems, key=SYSTEMS.index):
        if args.keep and (args.out / f"{system}.json").exists():
            continue
        print(f"{system}: {len(sets)} sets", file=sys.stderr, flush=True)
        if system == "genlm":
            command = [str(args.peer_python), str(Path(__file__).with_name("peer_genlm.py")), str(args.out),
                       "--particles", str(args.peer_particles)]
        else:
            command = [sys.executable, __file__, "--run", system, "--out", str(args.out), "--seed", str(args.seed)]
            command += [f"--option={pair}" for pair in args.option]
        subprocess.run(command, check=True)
    report(sets, systems, args)


def report(sets: list[dict], systems: list[str], args: argparse.Namespace) -> None:
    runs = {system: json.loads((args.out / f"{system}.json").read_text()) for system in systems}
    for k, item in enumerate(sets):
        for system, run in runs.items():
            item[system] = {**run["rows"][k], "peak_rss_gb": run["peak_rss_gb"]}
        item[HUMAN] = {"text": item["references"][0], "seconds": None}
        for system in systems + [HUMAN]:
            item[system]["covered"] = not Keywords(item["concepts"]).missing(item[system]["text"])
    judge_lm = ts.load_lm("gemma3-270m")
    scores = judge(judge_lm, sets, {s: [item[s]["text"] for item in sets] for s in systems + [HUMAN]})
    for system, values in scores.items():
        for item, value in zip(sets, values):
            item[system].update(value)
    summary = {system: summarise(sets, system) for system in systems + [HUMAN]}
    config = {"sets": len(sets), "seed": args.seed, "full": args.full, "limit": args.limit,
              "options": options(args.option), "pack": task.PACK, "torch_threads": torch.get_num_threads()}
    (args.out / "report.json").write_text(json.dumps({"config": config, "summary": summary, "sets": sets}, indent=1))
    table = markdown(summary)
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
