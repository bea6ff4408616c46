#!/usr/bin/env python
"""Blog part 1, from text generation to search and sampling.

(i) Importance sampling: estimate an expectation under a small distribution that
is known only up to its normaliser (a tiny word language, p(x) ∝ exp(−E(x))) from
uniform draws, beside the exact value from enumeration, with its standard error and
the effective sample size of the weights. (ii) Rejection sampling for keyword-to-
sentence: draw sentences from the embedded LM, keep those that contain every
keyword, and watch the acceptance rate collapse as keywords are added.
"""
from __future__ import annotations

import argparse
import math

import torch

import textsearch as ts
from blog_toy import LENGTH, WORDS, exact_distribution, toy_objective

KEYWORDS = ["dog", "frisbee", "catch", "park"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=None,
                        help="LM drafts per keyword count in the rejection study (default 256; 16 with --quick)")
    parser.add_argument("--keywords", nargs=4, default=KEYWORDS, metavar="WORD",
                        help=f"four keywords, used 1, 2, 3 and 4 at a time (default: {' '.join(KEYWORDS)})")
    parser.add_argument("--model", default=None, help="causal LM (default: the embedded SmolLM2-135M)")
    parser.add_argument("--quick", action="store_true", help="a smoke run that finishes in seconds")
    args = parser.parse_args()
    args.draws = args.draws or (8 if args.quick else 256)
    args.max_new_tokens = 16 if args.quick else 32
    return args


def importance(args) -> None:
    objective = toy_objective(args.seed)
    sentences, probs = exact_distribution(objective)
    cat = WORDS.index("cat")
    exact = sum(p for s, p in zip(sentences, probs.tolist()) if cat in s)
    print(f"\n(i) importance sampling: p(x) ∝ exp(−E(x)) over the {len(probs)} sentences of {LENGTH} words from "
          f"{{{', '.join(WORDS)}}}; q = uniform; estimate P(sentence contains 'cat')")
    print(f"exact value by enumeration: {exact:.4f}")
    print(f"{'draws':>7} {'estimate':>9} {'std err':>8} {'error/SE':>9} {'ESS':>8}")
    proposal = ts.proposals.UniformSequences(vocab_size=len(WORDS), length=LENGTH)
    for n in (100, 1000, 10000):
        result = ts.samplers.ImportanceSampler(proposal, num_samples=n, seed=args.seed).run(objective)
        weights = torch.tensor([s.weight for s in result.samples], dtype=torch.float64)
        weights = weights / weights.sum()
        values = torch.tensor([float(cat in s.tokens) for s in result.samples], dtype=torch.float64)
        estimate = (weights * values).sum().item()
        std_err = math.sqrt((weights ** 2 * (values - estimate) ** 2).sum().item())
        ess = 1.0 / (weights ** 2).sum().item()
        print(f"{n:>7} {estimate:>9.4f} {std_err:>8.4f} {(estimate - exact) / std_err:>+9.2f} {ess:>8.1f}")


def draw_drafts(lm, prompt: str | None, n: int, seed: int, max_new_tokens: int) -> list[str]:
    q = ts.proposals.LMSampler(lm, prompt=prompt, chat=prompt is not None, max_new_tokens=max_new_tokens)
    tokens, _ = q.sample(n, torch.Generator().manual_seed(seed))
    return [lm.decode(t) for t in tokens]


def kept(words: list[str], drafts: list[str], tokenizer) -> list[str]:
    """The drafts the rejection step keeps: those with finite energy under the hard keyword term."""
    energies = ts.objectives.Keywords(words, hard=True, tokenizer=tokenizer)(drafts)
    return [d for d, e in zip(drafts, energies.tolist()) if math.isfinite(e)]


def rejection(args) -> None:
    lm = ts.load_lm(args.model)
    print("\n(ii) rejection sampling for keyword-to-sentence: target p(x | keywords) ∝ q(x)·χ(x), where χ = 1 when "
          "x contains every keyword (inflections count); with M = 1 a draw from q is kept iff χ(x) = 1")
    print(f"q = the LM alone (one pool of {args.draws} drafts serves every row), or the LM prompted with "
          f"'{prompt(['...'])}' ({args.draws} drafts per row); at most {args.max_new_tokens} tokens per draft")
    alone = draw_drafts(lm, None, args.draws, args.seed, args.max_new_tokens)
    print(f"{'keywords':<32} {'LM alone':>10} {'rate':>7} {'prompted':>10} {'rate':>7} {'drafts per kept':>16}")
    examples = []
    for count in range(1, len(args.keywords) + 1):
        words = args.keywords[:count]
        plain = kept(words, alone, lm.tokenizer)
        drafts = draw_drafts(lm, prompt(words), args.draws, args.seed + count, args.max_new_tokens)
        prompted = kept(words, drafts, lm.tokenizer)
        rate = len(prompted) / args.draws
        print(f"{' '.join(words):<32} {len(plain):>4}/{args.draws:<5} {len(plain) / args.draws:>7.1%} "
              f"{len(prompted):>4}/{args.draws:<5} {rate:>7.1%} {(1 / rate if rate else math.inf):>16.1f}")
        examples.append((words, prompted[0] if prompted else None))
    for words, example in examples:
        print(f"kept for {' '.join(words)}: {example!r}")


def prompt(words: list[str]) -> str:
    return f"Write one short sentence using the words: {', '.join(words)}."


def main() -> None:
    args = parse_args()
    print("Reproduces 【搜出来的文本】⋅(一) from generation to search: importance sampling against an exact value, "
          "and rejection sampling whose acceptance collapses as keywords are added.")
    importance(args)
    rejection(args)


if __name__ == "__main__":
    main()
