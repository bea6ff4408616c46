"""Keyword-to-sentence on CommonGen dev: textsearch against prompted generation.

    python scripts/bench_keywords.py                 # 102 seeded sets, 34 each of 3, 4 and 5 concepts
    python scripts/bench_keywords.py --full          # all 993 sets
    python scripts/bench_keywords.py --limit 6       # a smoke run

Side by side, on the same sets and the same built-in LM (SmolLM2-135M-Instruct):
  (a) textsearch: `KeywordsToSentence` with the library defaults (or the options given);
  (b) prompted: the chat prompt "Write one short sentence using: …", greedy;
  (c) rejection: samples of the prompted LM until one uses every keyword, within the
      wall-clock time (a) took on the same set (the most complete draw if none does).
Reported per method: share of sets with every keyword (lemma-aware), share of keywords,
BLEU-4 against the human references (sacrebleu), fluency judged by an independent LM,
Gemma-3-270M (mean NLL per token; SLOR = (log p_LM(x) − log p_unigram(x)) / words, unigram
probabilities from wordfreq), and the median and p90 seconds per set (wall clock, and CPU
seconds of this process, the steadier figure on a shared machine). Writes a JSON report
and a markdown table under --out; the last line printed is the summary as JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import torch

import textsearch as ts
from textsearch.tasks import keywords as task
from textsearch.objectives import Keywords

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "commongen" / "dev.jsonl"
METHODS = ("textsearch", "prompted", "rejection")
PROMPT = "Write one short sentence using: {keywords}."


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


class Clock:
    """Wall-clock and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def prompted_sampler(lm, concepts: list[str], **options) -> ts.proposals.LMSampler:
    return ts.proposals.LMSampler(lm, prompt=PROMPT.format(keywords=", ".join(concepts)), chat=True,
                                  max_new_tokens=32, **options)


def clean(lm, tokens: list[int]) -> str:
    return " ".join(lm.decode(tokens).split())


def run_prompted(lm, concepts: list[str], seed: int) -> str:
    tokens, _ = prompted_sampler(lm, concepts, top_k=1).sample(1, torch.Generator().manual_seed(seed))
    return clean(lm, tokens[0])


def run_rejection(lm, concepts: list[str], seed: int, budget: float, batch: int) -> tuple[str, int, bool]:
    """Draws until one covers every keyword or the budget is spent: (text, draws, accepted)."""
    keywords, sampler = Keywords(concepts), prompted_sampler(lm, concepts)
    generator = torch.Generator().manual_seed(seed)
    started, draws, best = time.perf_counter(), 0, (math.inf, "")
    while True:
        tokens, _ = sampler.sample(batch, generator)
        draws += batch
        for text in (clean(lm, t) for t in tokens):
            missing = len(keywords.missing(text))
            if missing == 0:
                return text, draws, True
            best = min(best, (missing, text))
        if time.perf_counter() - started >= budget:
            return best[1], draws, False


def judge(judge_lm, texts: list[str]) -> tuple[list[float], list[float]]:
    """The judge's mean NLL per token and SLOR (per word, wordfreq unigrams) of each text."""
    from wordfreq import tokenize, word_frequency
    nll, slor = [], []
    for text in texts:
        words = tokenize(text, "en")
        if not words:
            nll.append(math.nan)
            slor.append(math.nan)
            continue
        log_p = judge_lm.token_log_probs([text])[0]
        unigram = sum(math.log(max(word_frequency(w, "en"), 1e-9)) for w in words)
        nll.append(-log_p.mean().item())
        slor.append((log_p.sum().item() - unigram) / len(words))
    return nll, slor


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summarise(rows: list[dict], method: str) -> dict:
    import sacrebleu
    outputs = [r[method] for r in rows]
    width = max(len(r["references"]) for r in rows)
    streams = [[r["references"][k] if k < len(r["references"]) else None for r in rows] for k in range(width)]
    finite = lambda key: [o[key] for o in outputs if not math.isnan(o[key])]      # noqa: E731
    return {
        "sets": len(rows),
        "all_keywords": statistics.fmean(o["covered"] for o in outputs),
        "keyword_share": sum(o["found"] for o in outputs) / sum(len(r["concepts"]) for r in rows),
        "bleu4": sacrebleu.corpus_bleu([o["text"] for o in outputs], streams).score,
        "nll_per_token": statistics.fmean(finite("nll")),
        "slor": statistics.fmean(finite("slor")),
        "median_s": statistics.median(o["wall_s"] for o in outputs),
        "p90_s": percentile([o["wall_s"] for o in outputs], 0.9),
        "median_cpu_s": statistics.median(o["cpu_s"] for o in outputs),
        "p90_cpu_s": percentile([o["cpu_s"] for o in outputs], 0.9),
    }


def markdown(summary: dict[str, dict]) -> str:
    lines = ["| method | sets | all keywords | keyword share | BLEU-4 | NLL/token (Gemma) | SLOR | median s | p90 s "
             "| median CPU s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for method, s in summary.items():
        lines.append(f"| {method} | {s['sets']} | {s['all_keywords']:.1%} | {s['keyword_share']:.1%} | {s['bleu4']:.2f} "
                     f"| {s['nll_per_token']:.3f} | {s['slor']:.3f} | {s['median_s']:.2f} | {s['p90_s']:.2f} "
                     f"| {s['median_cpu_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-size", type=int, default=34, help="sets per concept count 3/4/5 (default 34)")
    parser.add_argument("--full", action="store_true", help="all sets of the file")
    parser.add_argument("--limit", type=int, default=None, help="only the first N chosen sets (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {METHODS}")
    parser.add_argument("--budget", type=float, default=10.0,
                        help="seconds per set for rejection when textsearch does not run (default 10)")
    parser.add_argument("--rejection-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=task.STEPS)
    parser.add_argument("--chains", type=int, default=task.CHAINS)
    parser.add_argument("--top-k", type=int, default=task.TOP_K)
    parser.add_argument("--init", choices=task.INITS, default=task.INIT)
    parser.add_argument("--drafts", type=int, default=task.NUM_DRAFTS)
    parser.add_argument("--out", type=Path, default=Path("out/bench_keywords"))
    parser.add_argument("--from-rows", type=Path, default=None,
                        help="judge and summarise the rows.jsonl of an earlier (perhaps cut short) run")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if not set(methods) <= set(METHODS):
        parser.error(f"--methods takes names from {METHODS}")
    if args.from_rows:
        with open(args.from_rows, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        report(rows, [m for m in methods if all(m in r for r in rows)], args)
        return
    rows = generate(args, methods)
    report(rows, methods, args)


def generate(args: argparse.Namespace, methods: list[str]) -> list[dict]:
    """Run every method on every chosen set; rows are also appended to OUT/rows.jsonl as they finish."""
    sets = load_sets(args.data, args.per_size, args.full, args.seed)[: args.limit]
    lm = ts.load_lm()
    search = task.KeywordsToSentence(lm, steps=args.steps, chains=args.chains, top_k=args.top_k, init=args.init,
                                     num_drafts=args.drafts)
    args.out.mkdir(parents=True, exist_ok=True)
    progress = open(args.out / "rows.jsonl", "w", encoding="utf-8")      # the sets so far, before judging
    rows = []
    for number, item in enumerate(sets, start=1):
        concepts, seed = item["concepts"], task.seed_for(args.seed, item["concepts"])
        row = {**item}
        if "textsearch" in methods:
            with Clock() as clock:
                result = search(concepts, seed=args.seed)[0]
            row["textsearch"] = {"text": result.text, "energy": result.energy, "wall_s": clock.wall, "cpu_s": clock.cpu}
        if "prompted" in methods:
            with Clock() as clock:
                text = run_prompted(lm, concepts, seed)
            row["prompted"] = {"text": text, "wall_s": clock.wall, "cpu_s": clock.cpu}
        if "rejection" in methods:
            budget = row["textsearch"]["wall_s"] if "textsearch" in row else args.budget
            with Clock() as clock:
                text, draws, accepted = run_rejection(lm, concepts, seed, budget, args.rejection_batch)
            row["rejection"] = {"text": text, "draws": draws, "accepted": accepted, "budget_s": budget,
                                "wall_s": clock.wall, "cpu_s": clock.cpu}
        keywords = Keywords(concepts)
        for method in methods:
            missing = keywords.missing(row[method]["text"])
            row[method].update(covered=not missing, found=len(concepts) - len(missing))
        rows.append(row)
        progress.write(json.dumps(row) + "\n")
        progress.flush()
        print(f"[{number}/{len(sets)}] {'#'.join(concepts)}: " +
              " | ".join(f"{m}: {row[m]['text']!r} ({row[m]['wall_s']:.1f}s)" for m in methods),
              file=sys.stderr, flush=True)

    progress.close()
    return rows


def report(rows: list[dict], methods: list[str], args: argparse.Namespace) -> None:
    """Judge the texts with Gemma, summarise, write report.json and table.md, print the table and JSON."""
    judge_lm = ts.load_lm("gemma3-270m")
    for method in methods:
        nll, slor = judge(judge_lm, [r[method]["text"] for r in rows])
        for row, n, s in zip(rows, nll, slor):
            row[method].update(nll=n, slor=s)
    summary = {method: summarise(rows, method) for method in methods}
    config = {"sets": len(rows), "seed": args.seed, "full": args.full, "limit": args.limit,
              "textsearch": {"steps": args.steps, "chains": args.chains, "top_k": args.top_k, "init": args.init,
                             "drafts": args.drafts},
              "torch_threads": torch.get_num_threads()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps({"config": config, "summary": summary, "sets": rows}, indent=1))
    table = markdown(summary)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    print(json.dumps({"config": config, "summary": summary}))


if __name__ == "__main__":
    main()
