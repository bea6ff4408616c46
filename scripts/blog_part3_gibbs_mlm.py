#!/usr/bin/env python
"""Blog part 3, Gibbs sampling of text with a masked language model.

The post's procedure: pick a random position, mask it, draw a new token from the
MLM's distribution there, repeat (10000 steps, burn-in 1000), from an initial
sentence or from all-[MASK] of a random length in 8–32, then print 10 random samples
kept after burn-in. `--mlm NAME` runs it with any Hugging Face masked LM (e.g.
bert-base-chinese, as in the post). Without one, offline, the same Gibbs procedure
runs on the embedded causal LM: at the chosen position the LM's top-K tokens are
weighted by the energy E(x) = −log p_LM(x) of the whole sentence they make, and MH
corrects for the shortlist, so the chain samples the LM's own sentences exactly.
"""
from __future__ import annotations

import argparse
import re

import torch

import textsearch as ts
from textsearch.objectives.text import CJK

POST_SENTENCE = "科学技术是第一生产力。"
OFFLINE_SENTENCE = "Science and technology are the primary productive forces."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--mlm", default=None, help="a Hugging Face masked LM (id or directory); none: offline mode")
    parser.add_argument("--model", default=None, help="offline mode's causal LM (default: the embedded SmolLM2-135M)")
    parser.add_argument("--init", default=None, help=f"initial sentence (default: '{POST_SENTENCE}' with --mlm, "
                                                     f"'{OFFLINE_SENTENCE}' offline)")
    parser.add_argument("--from-masks", action="store_true",
                        help="start from all-[MASK] of a random length in 8–32 (offline: random tokens)")
    parser.add_argument("--steps", type=int, default=None,
                        help="Gibbs steps (default: 10000 with --mlm as in the post, 1000 offline; 40 with --quick)")
    parser.add_argument("--burn-in", type=int, default=None,
                        help="steps dropped first (default: a tenth of the steps; 10 with --quick)")
    parser.add_argument("--samples", type=int, default=10, help="random samples to print after burn-in")
    parser.add_argument("--top-k", type=int, default=None, help="offline mode's shortlist (default 16; 8 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke run that finishes in seconds")
    args = parser.parse_args()
    # offline, a step scores top_k + 1 whole sentences with the causal LM instead of one MLM forward
    args.steps = args.steps or (40 if args.quick else 10000 if args.mlm else 1000)
    args.burn_in = args.burn_in if args.burn_in is not None else (10 if args.quick else args.steps // 10)
    args.top_k = args.top_k or (8 if args.quick else 16)
    args.init = args.init or (POST_SENTENCE if args.mlm else OFFLINE_SENTENCE)
    return args


def start_tokens(model, args, generator: torch.Generator) -> list[int]:
    """The initial sentence's tokens, or all-[MASK] (offline: uniform ordinary tokens) of length 8–32."""
    if not args.from_masks:
        return model.encode(args.init)
    length = int(torch.randint(8, 33, (1,), generator=generator))
    if args.mlm:
        return [model.mask_id] * length
    allowed = ts.proposals.Candidates(model, top_k=None).allowed_ids
    return allowed[torch.randint(len(allowed), (length,), generator=generator)].tolist()


def readable(text: str) -> str:
    """One line, and Chinese without the space BERT tokenizers put between characters (the post has none)."""
    text = re.sub(rf"(?<=[{CJK}，。！？、；：]) (?=[{CJK}，。！？、；：])", "", text)
    return " ⏎ ".join(line.strip() for line in text.strip().splitlines())


def main() -> None:
    args = parse_args()
    if args.mlm:
        print(f"Reproduces 【搜出来的文本】⋅(三) Gibbs sampling with the masked LM {args.mlm}: random position, mask, "
              f"draw from the MLM ('BERT has a mouth'); {args.steps} steps, burn-in {args.burn_in}.")
        model = ts.load_mlm(args.mlm)
        conditional = ts.proposals.MLMConditional(model)
        # the MLM's draws are taken as they come: the chain needs no energy
        objective = ts.objectives.FromFunction(lambda sequences: [0.0] * len(sequences), tokenizer=model.tokenizer)
    else:
        print(f"Reproduces 【搜出来的文本】⋅(三) offline (no --mlm given): the same Gibbs procedure on the embedded "
              f"causal LM, exact conditionals of E(x) = −log p_LM(x) over its top-{args.top_k} candidates with MH "
              f"correction; {args.steps} steps, burn-in {args.burn_in}.")
        model = ts.load_lm(args.model)
        conditional = ts.proposals.TopKConditional(model, top_k=args.top_k)
        objective = ts.objectives.Fluency(model, gamma=1.0)
    generator = torch.Generator().manual_seed(args.seed)
    init = start_tokens(model, args, generator)
    shown = f"[MASK] × {len(init)}" if args.from_masks and args.mlm else readable(model.tokenizer.decode(init))
    print(f"start ({len(init)} tokens): {shown}")
    sampler = ts.samplers.Gibbs(conditional, steps=args.steps, burn_in=args.burn_in, seed=args.seed)
    result = sampler.run(objective, init=init)
    print(f"{len(result.samples)} samples after burn-in; acceptance rate {result.acceptance_rate:.3f}; "
          f"{result.seconds:.1f} s ({result.seconds / args.steps * 1000:.1f} ms per step)")
    picks = torch.randperm(len(result.samples), generator=generator)[: args.samples].sort().values.tolist()
    print(f"{args.samples} random samples after burn-in:")
    for i in picks:
        sample = result.samples[i]
        print(f"  step {sample.step:>6}: {readable(sample.text)}")


if __name__ == "__main__":
    main()
