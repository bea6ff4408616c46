"""Keyword-to-sentence speed against the model's raw forward throughput and a naive scorer.

    python scripts/bench_speed.py [--quick] [--sets N] [--search-sets N] [--pack N] [--repeats N] [--data dev.jsonl]

Two configurations, each against the same naive reference:
  defaults  the library defaults (a prompted LM draft, then a short repair search);
  search    CGMH's start from the bare keywords, 4 chains and many steps: no draft,
            so its seconds are the search machinery's alone.
The top-level JSON keys come from `defaults`, because that is what a user runs; but
the draft is the same sequential decoding in both implementations, so at the defaults
the end-to-end ratio is bounded by the draft's share of the time. The `search` figures
(keys ending in `_search`, and the `search` object) measure the sampler itself.
For each configuration, side by side:
  1. raw forward throughput (tokens/s) at the batch shapes the sampler used: each of its
     search forwards is followed by a bare forward with log-softmax at the same shape,
     every token real, so the limit is measured at the same moments (this machine's
     speed drifts by a tenth or more over minutes); their time is not counted as ours;
  2. forward_share_at_raw_speed: the share of the search's wall time that its model
     forwards would take at the raw speed of 1 (each forward counted at the lesser of
     its own time and the bare one's, so the share is at most 1 by construction): the
     rest is proposals, cache gathers, Python and waiting;
  3. tokens through the model per MH step, against the naive reference below:
     token_reduction_vs_naive;
  4. seconds per concept set, drafts included, against the naive reference, with the
     coverage and energies of both: e2e_speedup_vs_naive; equal_quality when the coverage
     is no lower and the mean paired energy difference is within two standard errors.
     Ours runs the sets in packs, as batch mode does (`--pack`: drafts drawn together,
     searches in lockstep), and at the defaults also one set at a time, as a single
     CLI call does (e2e_speedup_one_set_at_a_time); the naive reference runs one set
     at a time, with none of the above. Ours and the naive run in turn, `--repeats`
     times, and each side's times are summed over its repeats: the machine's speed
     drifts by a tenth or more over minutes, and in turn the drift falls on both.
Once per run:
  5. peak resident memory of a default CLI run, in a subprocess;
  6. raw throughput against tokens per forward, which sets the default token budget.
The naive reference is the same search with every candidate's whole sentence scored:
no token trees or kept states, no energy cache, always top-K candidates, drafts drawn
a row per node, one set at a time. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch

import textsearch as ts
from textsearch.samplers import base as sampler_base
from textsearch.target import Target
from textsearch.tasks.keywords import PACK, KeywordsToSentence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "commongen" / "dev.jsonl"
FALLBACK_SETS = [["dog", "frisbee", "catch"], ["field", "look", "stand"], ["cook", "kitchen", "pan"],
                 ["ski", "mountain", "snow"], ["read", "book", "chair"], ["ball", "throw", "boy"]]


@dataclass
class Forward:
    phase: str          # "draft" or "search"
    rows: int
    width: int          # input tokens per row, padding included
    past: int           # cached tokens per row it attended to
    tokens: int         # real input tokens
    seconds: float


class ForwardMeter:
    """Times and counts every forward of `model`; `phase` tags the ones that follow. While `probing`,
    each search forward is followed by a bare one at its shape (`probes`: tokens, bare seconds, its own
    seconds), so the limit is measured at the same moments as the sampler: this machine's speed drifts
    by a tenth or more."""

    def __init__(self, model):
        self.model, self.forwards, self.phase = model, [], "search"
        self.probing, self.probes = False, []
        self._forward = model.forward
        self._ids = torch.Generator().manual_seed(0)
        model.forward = self._timed

    def _timed(self, *args, **kwargs):
        ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
        start = time.perf_counter()
        out = self._forward(*args, **kwargs)
        synchronize(ids.device)
        rows, width = ids.shape
        padded = mask is not None and mask.dim() == 2               # a token tree's 4-D mask has no padding
        tokens = int(mask[:, -width:].sum()) if padded else rows * width
        past = mask.shape[-1] - width if mask is not None else 0
        own = time.perf_counter() - start
        self.forwards.append(Forward(self.phase, rows, width, past, tokens, own))
        if self.probing and self.phase == "search":
            seconds = bare_seconds(self._forward, self.model.config.vocab_size, rows, width, self._ids, ids.device)
            self.probes.append((rows * width, seconds, own))
        return out

    @contextmanager
    def tagged(self, phase: str):
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = previous

    def take(self) -> list[Forward]:
        forwards, self.forwards = self.forwards, []
        return forwards


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class UncachedTarget(Target):
    """The naive reference's target: every energy asked for is computed again."""

    def energy(self, states):
        self.cache.clear()
        return super().energy(states)


def naive_generator(lm, generator: KeywordsToSentence) -> KeywordsToSentence:
    """The same search scoring the way a plain CGMH implementation does: the same model, every
    candidate's whole sentence in padded forwards and each draft row its own node (no token trees or
    kept states), always the top-K candidates; `naive_scoring` adds: every energy computed again."""
    plain = ts.lm.CausalLM(lm.model, lm.tokenizer, device=lm.device, token_budget=lm.token_budget, token_trees=False)
    return KeywordsToSentence(plain, steps=generator.steps, chains=generator.chains, init=generator.init,
                              top_k=generator.proposal.choice.candidates.top_k, top_p=1.0)


@contextmanager
def naive_scoring():
    """Every energy a sampler asks for is computed again (no energy cache)."""
    with mock.patch.object(sampler_base, "Target", UncachedTarget):
        yield


@dataclass
class SetRun:
    keywords: list[str]
    text: str
    energy: float
    covered: bool


@dataclass
class Runs:
    """Sets run in packs of `pack`, `repeats` times: their results, and the whole time, forwards and cache
    counts of the repeats together."""
    sets: list[SetRun]
    pack: int
    seconds: float
    draft_seconds: float
    forwards: list[Forward]
    requested: int
    evaluated: int
    probes: list[tuple[int, float, float]]   # bare forwards at the search's shapes: (tokens, seconds, ours)
    repeats: int = 1

    @property
    def raw_tokens_per_s(self) -> float | None:
        seconds = sum(s for _, s, _ in self.probes)
        return sum(t for t, _, _ in self.probes) / seconds if self.probes else None

    @property
    def forwards_at_raw_speed(self) -> float:
        """Seconds the search's forwards take at the raw speed (or their own, where that is less)."""
        return sum(min(bare, own) for _, bare, own in self.probes)


def together(runs: list[Runs]) -> Runs:
    """Repeats of the same run as one: their times, forwards, counts and probes summed."""
    texts = {tuple(r.text for r in run.sets) for run in runs}
    if len(texts) > 1:
        print("warning: repeats of a run gave different sentences (float rounding flipped a draw)")
    return Runs(runs[0].sets, runs[0].pack, sum(r.seconds for r in runs), sum(r.draft_seconds for r in runs),
                [f for r in runs for f in r.forwards], sum(r.requested for r in runs), sum(r.evaluated for r in runs),
                [p for r in runs for p in r.probes], sum(r.repeats for r in runs))


def run_sets(generator: KeywordsToSentence, meter: ForwardMeter, sets: list[list[str]], seed: int,
             pack: int, probe: bool = False) -> Runs:
    """The sets in packs of `pack` (`generate`, as batch mode runs them); drafts timed apart from the
    searches, cache counts from the samplers' Results. With `probe`, the meter's probes measure the
    raw throughput alongside, and their time is taken out of the run's."""
    draft_seconds, counts = [0.0], {"requested": 0, "evaluated": 0}
    drafts, sampler_run = generator.drafts, sampler_base.MarkovSampler.run

    def timed_drafts(*args):
        start = time.perf_counter()
        with meter.tagged("draft"):
            out = drafts(*args)
        draft_seconds[0] += time.perf_counter() - start
        return out

    def counted_run(self, *args, **kwargs):
        result = sampler_run(self, *args, **kwargs)
        counts["requested"] += result.requested
        counts["evaluated"] += result.evaluations
        return result

    meter.take()
    meter.probing, meter.probes = probe, []
    runs = []
    start = time.perf_counter()
    try:
        with mock.patch.object(generator, "drafts", timed_drafts), \
                mock.patch.object(sampler_base.MarkovSampler, "run", counted_run):
            for first in range(0, len(sets), pack):
                for results in generator.generate(sets[first:first + pack], seed=seed):
                    runs.append(SetRun(results[0].keywords, results[0].text, results[0].energy, results[0].covered))
    finally:
        meter.probing = False
    probe_seconds = sum(seconds for _, seconds, _ in meter.probes)
    return Runs(runs, pack, time.perf_counter() - start - probe_seconds, draft_seconds[0], meter.take(), **counts,
                probes=meter.probes)


def bare_seconds(forward, vocab_size: int, rows: int, width: int, generator: torch.Generator,
                 device: torch.device) -> float:
    """Seconds of a bare forward with log-softmax at (rows, width), every token real: the limit."""
    ids = torch.randint(100, vocab_size, (rows, width), generator=generator).to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        forward(input_ids=ids, use_cache=False).logits.float().log_softmax(-1)
    synchronize(device)
    return time.perf_counter() - start


def raw_throughput(lm, shapes: list[tuple[int, int]], repeats: int = 3) -> float:
    """tokens/s of bare forwards at the given (rows, width); each shape's time is the median of
    `repeats` after a warm-up, so one slow moment of the machine does not move the limit."""
    generator = torch.Generator().manual_seed(0)
    total_tokens, total_seconds = 0, 0.0
    for rows, width in shapes:
        timed = [bare_seconds(lm.model, lm.vocab_size, rows, width, generator, lm.device) for _ in range(repeats + 1)]
        total_seconds += statistics.median(timed[1:])
        total_tokens += rows * width
    return total_tokens / total_seconds


def budget_sweep(lm, budgets: list[int], width: int = 16) -> list[tuple[int, float]]:
    """(tokens per forward, raw tokens/s) at rows = tokens / width (one row of `budget` tokens below
    `width`)."""
    shapes = [(max(1, budget // width), min(budget, width)) for budget in budgets]
    return [(rows * w, raw_throughput(lm, [(rows, w)])) for rows, w in shapes]


def overhead_tokens(sweep: list[tuple[int, float]]) -> float:
    """The fixed cost of a forward in tokens: a/b of seconds = a + b·tokens, fitted on the sweep's
    points up to 256 tokens (where the cost still grows linearly)."""
    points = [(tokens, tokens / rate) for tokens, rate in sweep if tokens <= 256]
    mean_x = statistics.mean(x for x, _ in points)
    mean_y = statistics.mean(y for _, y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return (mean_y - slope * mean_x) / slope


def peak_rss_mb(words: list[str]) -> float:
    """Peak RSS of `textsearch keywords WORDS` with default settings, in a fresh process."""
    probe = ("import resource, sys\nfrom textsearch.cli import main\ncode = main(sys.argv[1:])\n"
             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\nsys.exit(code)")
    out = subprocess.run([sys.executable, "-c", probe, "keywords", *words], check=True, capture_output=True,
                         text=True).stdout
    return float(out.strip().splitlines()[-1])


def read_sets(path: Path, n: int) -> list[list[str]]:
    if not path.exists():
        return FALLBACK_SETS[:n]
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["concept_set"].split("#") for line, _ in zip(handle, range(n))]


def summary(runs: Runs, steps: int) -> dict:
    search = [f for f in runs.forwards if f.phase == "search"]
    search_seconds, n = runs.seconds - runs.draft_seconds, len(runs.sets) * runs.repeats
    return {
        "seconds_per_set": runs.seconds / n,
        "draft_seconds_per_set": runs.draft_seconds / n,
        "search_seconds_per_set": search_seconds / n,
        "tokens_per_step": sum(f.tokens for f in search) / (steps * n),
        "padded_per_step": sum(f.rows * f.width for f in search) / (steps * n),
        "forwards_per_step": len(search) / steps / (-(-len(runs.sets) // runs.pack) * runs.repeats),   # per pack
        "useful_tokens_per_s": sum(f.tokens for f in search) / search_seconds,
        "model_seconds_share": sum(f.seconds for f in search) / search_seconds,
        "coverage": statistics.mean(float(r.covered) for r in runs.sets),
        "mean_energy": statistics.mean(r.energy for r in runs.sets),
        "cache_hit_rate": 1 - runs.evaluated / runs.requested,
    }


SEARCH_CHAINS = 4
SEARCH_STEPS = {True: 40, False: 150}          # quick / full: enough steps that the search is the cost
ROWS = ("seconds_per_set", "draft_seconds_per_set", "search_seconds_per_set", "tokens_per_step", "padded_per_step",
        "forwards_per_step", "useful_tokens_per_s", "model_seconds_share", "coverage", "mean_energy", "cache_hit_rate")


def quality(ours: Runs, naive: Runs) -> dict:
    """Equal quality: coverage no lower, and the sets' energies not worse than the naive's beyond noise.
    Both are the same exact sampler, but top-p candidate sets take other paths from the first step
    where they differ, so a set's final energy differs by chance: ours counts as worse when the mean
    paired difference exceeds two of its standard errors (where every set ends alike, when it is > 0)."""
    differences = [a.energy - b.energy for a, b in zip(ours.sets, naive.sets)]
    mean = statistics.mean(differences)
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else 0.0
    coverage = lambda runs: statistics.mean(float(r.covered) for r in runs.sets)      # noqa: E731
    return {"equal_quality": coverage(ours) >= coverage(naive) and mean <= max(2 * error, 1e-3),
            "energy_difference": mean, "energy_difference_se": error}


def compare(generator: KeywordsToSentence, naive: KeywordsToSentence, meter: ForwardMeter, sets: list[list[str]],
            seed: int, pack: int, alone: bool, repeats: int) -> dict:
    """One configuration, ours (in packs, as batch mode runs; and, if `alone`, one set at a time)
    against the naive reference (one set at a time), with the raw throughput at our shapes. Ours and
    the naive run in turn `repeats` times, so that a drift of the machine's speed falls on both."""
    ours_runs, naive_runs = [], []
    for _ in range(repeats):
        ours_runs.append(run_sets(generator, meter, sets, seed, pack, probe=True))
        with naive_scoring():
            naive_runs.append(run_sets(naive, meter, sets, seed, 1))
    ours, naive = together(ours_runs), together(naive_runs)
    raw = ours.raw_tokens_per_s
    one = run_sets(generator, meter, sets, seed, 1) if alone and pack > 1 else None
    mine, ref = summary(ours, generator.steps), summary(naive, generator.steps)
    choice = generator.proposal.choice.candidates
    figures = {
        "forward_share_at_raw_speed": ours.forwards_at_raw_speed / (ours.seconds - ours.draft_seconds),
        "token_reduction_vs_naive": ref["tokens_per_step"] / mine["tokens_per_step"],
        "e2e_speedup_vs_naive": ref["seconds_per_set"] / mine["seconds_per_set"],
        "search_speedup_vs_naive": ref["search_seconds_per_set"] / mine["search_seconds_per_set"],
        "raw_tokens_per_s": raw,
        **quality(ours, naive),
        "init": generator.init, "steps": generator.steps, "chains": generator.chains,
        "top_k": choice.top_k, "top_p": choice.top_p, "pack": pack, "repeats": repeats,
        "ours": mine, "naive": ref, "runs": (ours, naive),
    }
    if one is not None:
        figures["one_set_at_a_time"] = summary(one, generator.steps)
        figures["e2e_speedup_one_set_at_a_time"] = ref["seconds_per_set"] / figures["one_set_at_a_time"]["seconds_per_set"]
    return figures


def print_comparison(name: str, figures: dict) -> None:
    mine, ref = figures["ours"], figures["naive"]
    print(f"[{name}] init={figures['init']}, {figures['steps']} steps x {figures['chains']} chains, "
          f"top-k {figures['top_k']}, top-p {figures['top_p']}; ours and the naive in turn, "
          f"{figures['repeats']} times")
    print(f"{'':28} {'ours':>10} {'naive':>10}")
    for key in ROWS:
        print(f"{key:28} {mine[key]:>10.3f} {ref[key]:>10.3f}")
    print(f"{'raw forward tokens/s':28} {figures['raw_tokens_per_s']:>10.1f}   (bare forward + log-softmax at our shapes)")
    print(f"{'forward_share_at_raw_speed':28} {figures['forward_share_at_raw_speed']:>10.3f}   (of the search's "
          "wall time: its forwards at the raw speed; <= 1)")
    print(f"{'token_reduction_vs_naive':28} {figures['token_reduction_vs_naive']:>10.2f}   (target >= 4)")
    print(f"{'e2e_speedup_vs_naive':28} {figures['e2e_speedup_vs_naive']:>10.2f}   (target >= 3; drafts included; "
          f"ours in packs of {figures['pack']}, naive one set at a time)")
    if "one_set_at_a_time" in figures:
        print(f"{'  ours one set at a time':28} {figures['e2e_speedup_one_set_at_a_time']:>10.2f}   "
              f"({figures['one_set_at_a_time']['seconds_per_set']:.2f} s per set: a single-set CLI call)")
    print(f"{'search_speedup_vs_naive':28} {figures['search_speedup_vs_naive']:>10.2f}   (the search alone)")
    print(f"{'energy ours - naive':28} {figures['energy_difference']:>10.3f}   (mean over sets, "
          f"standard error {figures['energy_difference_se']:.3f})")
    print(f"{'equal_quality':28} {str(figures['equal_quality']):>10}   (coverage no lower; energy difference "
          f"within two standard errors)")
    for a, b in zip(*(runs.sets for runs in figures["runs"])):
        print(f"  {'#'.join(a.keywords):32} ours {a.energy:7.2f} {'ok' if a.covered else '--'} {a.text[:60]!r}")
        print(f"  {'':32} naive {b.energy:6.2f} {'ok' if b.covered else '--'} {b.text[:60]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer concept sets and steps (about 10 minutes)")
    parser.add_argument("--sets", type=int, default=None, help="concept sets of the defaults configuration "
                        "(default 8 quick, 24 full)")
    parser.add_argument("--search-sets", type=int, default=None, help="concept sets of the search configuration "
                        "(default 3 quick, 12 full: its naive reference takes a minute per set)")
    parser.add_argument("--pack", type=int, default=PACK, help=f"sets per pack, as in batch mode (default {PACK})")
    parser.add_argument("--data", type=Path, default=DATA, help="CommonGen jsonl with concept_set fields")
    parser.add_argument("--steps", type=int, default=None, help="steps of the defaults configuration (default: the CLI's)")
    parser.add_argument("--chains", type=int, default=None, help="chains of the defaults configuration (default: the CLI's)")
    parser.add_argument("--top-k", type=int, default=None, help="candidates per slot (default: the CLI's)")
    parser.add_argument("--search-steps", type=int, default=None,
                        help=f"steps of the search configuration (default {SEARCH_STEPS[True]} quick, {SEARCH_STEPS[False]} full)")
    parser.add_argument("--search-chains", type=int, default=SEARCH_CHAINS, help="chains of the search configuration")
    parser.add_argument("--repeats", type=int, default=2, help="times ours and the naive reference run in turn, "
                        "each configuration (default 2): the machine's speed drifts by a tenth over minutes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)          # the CLI subprocess too
    sets = read_sets(args.data, args.sets or (8 if args.quick else 24))
    search_sets = sets[:args.search_sets or (3 if args.quick else 12)]
    load = os.getloadavg()[0]

    rss = peak_rss_mb(sets[0])
    lm = ts.load_lm(device=args.device)
    meter = ForwardMeter(lm.model)
    top_k = {"top_k": args.top_k} if args.top_k else {}
    settings = {"steps": args.steps, "chains": args.chains, **top_k}
    defaults = KeywordsToSentence(lm, **{key: value for key, value in settings.items() if value})
    search = KeywordsToSentence(lm, init="keywords", steps=args.search_steps or SEARCH_STEPS[args.quick],
                                chains=args.search_chains, **top_k)
    naive = {"defaults": naive_generator(lm, defaults), "search": naive_generator(lm, search)}
    for generator in (defaults, naive["defaults"]):
        generator(sets[0])  # untimed: one-time costs (the stop-token table, the opening's cache) fall on neither side
    meter.take()
    configs = {"defaults": compare(defaults, naive["defaults"], meter, sets, args.seed, args.pack, alone=True,
                                   repeats=args.repeats),
               "search": compare(search, naive["search"], meter, search_sets, args.seed, args.pack, alone=False,
                                 repeats=args.repeats)}

    sweep = budget_sweep(lm, [4, 64, 256, 1024] if args.quick else [1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096])
    headline = ("forward_share_at_raw_speed", "token_reduction_vs_naive", "e2e_speedup_vs_naive", "search_speedup_vs_naive",
                "raw_tokens_per_s", "equal_quality")
    top = configs["defaults"]
    figures = {
        **{key: top[key] for key in headline},
        "peak_rss_mb": rss,
        "useful_tokens_per_s": top["ours"]["useful_tokens_per_s"],
        "cache_hit_rate": top["ours"]["cache_hit_rate"],
        **{f"{key}_search": configs["search"][key] for key in headline},
        "budget_sweep": sweep, "token_budget": lm.token_budget, "forward_overhead_tokens": overhead_tokens(sweep),
        "e2e_speedup_one_set_at_a_time": top["e2e_speedup_one_set_at_a_time"],
        "sets": len(sets), "search_sets": len(search_sets), "pack": args.pack, "device": str(lm.device), "threads": torch.get_num_threads(),
        "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
        **{name: {key: value for key, value in config.items() if key != "runs"} for name, config in configs.items()},
    }
    print(f"keyword-to-sentence on {lm.device} ({torch.get_num_threads()} threads), {len(sets)} CommonGen sets "
          f"({len(search_sets)} in the search configuration), packs of {args.pack}; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for name, config in configs.items():
        print_comparison(name, config)
    print(f"{'peak_rss_mb (CLI run)':28} {rss:>10.0f}   (target <= 1536)")
    print("raw tokens/s by tokens per forward (width 16): "
          + ", ".join(f"{b}: {t:.0f}" for b, t in sweep) + f"; token budget in use {lm.token_budget}")
    print(f"a forward's fixed cost: {figures['forward_overhead_tokens']:.0f} tokens "
          f"(packing assumes {lm.forward_overhead})")
    print("top-level JSON keys: the defaults configuration; *_search keys: the search configuration")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
