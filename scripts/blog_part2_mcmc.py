#!/usr/bin/env python
"""Blog part 2, from MCMC to simulated annealing.

(i) Metropolis–Hastings (uniform single-word replacement) and Gibbs (exact
conditionals) run many independent chains from one unlikely sentence of a tiny word
language whose distribution is known exactly; the total-variation distance between
the chains' states at step t and the target falls with t to the level of exact
sampling of the same size. (ii) Simulated annealing as optimisation: the tokens of a
sentence are shuffled and swap moves under the LM energy −log p(x) put them back in
order; the schedules of `ts.schedules` are compared.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import textsearch as ts
from blog_toy import LENGTH, WORDS, exact_distribution, sampling_floor, toy_objective, total_variation

ROUNDING = 1e-4     # nats: the same sentence scored by two paths (alone, or in a batch from kept states) may differ by this


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None,
                        help="steps of the convergence study (default 64; 24 with --quick)")
    parser.add_argument("--chains", type=int, default=None,
                        help="independent chains whose states make the empirical distribution (default 4000)")
    parser.add_argument("--anneal-steps", type=int, default=None, help="steps per annealing run (default 500)")
    parser.add_argument("--anneal-chains", type=int, default=None, help="chains per schedule (default 16)")
    parser.add_argument("--sentence", default=None, help="sentence to shuffle and recover")
    parser.add_argument("--model", default=None, help="causal LM for the energy (default: the embedded SmolLM2-135M)")
    parser.add_argument("--plot", default=None, metavar="PATH", help="write the TV curves as a PNG (needs matplotlib)")
    parser.add_argument("--quick", action="store_true", help="a smoke run that finishes in seconds")
    args = parser.parse_args()
    args.steps = args.steps or (24 if args.quick else 64)
    args.chains = args.chains or (1000 if args.quick else 4000)
    args.anneal_steps = args.anneal_steps or (40 if args.quick else 500)
    args.anneal_chains = args.anneal_chains or (4 if args.quick else 16)
    args.sentence = args.sentence or ("The cat sat down." if args.quick else "The cat sat on the mat.")
    return args


def tv_curve(sampler, objective, sentences: list[tuple[int, ...]], probs: torch.Tensor,
             start: list[int]) -> tuple[list[float], float]:
    """TV between the chains' states and the target after every step (entry 0: the start)."""
    index = {s: i for i, s in enumerate(sentences)}
    curve = [1.0 - probs[index[tuple(start)]].item()]

    def record(step, states, energies, info):
        counts = torch.bincount(torch.tensor([index[s.tokens] for s in states]), minlength=len(probs))
        curve.append(total_variation(counts.double(), probs))

    result = sampler.run(objective, init=start, callback=record, progress=False)
    return curve, result.acceptance_rate


def convergence(args) -> dict[str, list[float]]:
    objective = toy_objective(args.seed)
    sentences, probs = exact_distribution(objective)
    start = list(sentences[int(torch.argmin(probs))])           # the least likely sentence
    vocab = len(WORDS)
    samplers = {
        "MH (uniform replace)": ts.samplers.MetropolisHastings(
            ts.proposals.UniformReplace(vocab_size=vocab), steps=args.steps, chains=args.chains, seed=args.seed),
        "Gibbs (exact conditional)": ts.samplers.Gibbs(
            ts.proposals.ExactConditional(vocab_size=vocab), steps=args.steps, chains=args.chains, seed=args.seed),
    }
    print(f"\n(i) convergence to a known distribution: {vocab}^{LENGTH} = {len(probs)} sentences of "
          f"{{{', '.join(WORDS)}}}, p(x) ∝ exp(−E(x)) with a seeded bigram energy")
    print(f"{args.chains} independent chains start from the least likely sentence "
          f"'{objective.tokenizer.decode(start)}' (p = {probs.min().item():.2e})")
    curves, rates = {}, {}
    for name, sampler in samplers.items():
        curves[name], rates[name] = tv_curve(sampler, objective, sentences, probs, start)
    floor = sampling_floor(probs, args.chains, 200, torch.Generator().manual_seed(args.seed))
    names = list(curves)
    print(f"{'step':>6}  " + "  ".join(f"{name:>26}" for name in names))
    shown = sorted({0, *(2 ** k for k in range(int(math.log2(args.steps)) + 1)), args.steps})
    for step in shown:
        print(f"{step:>6}  " + "  ".join(f"{curves[name][step]:>26.4f}" for name in names))
    print(f"exact sampling of {args.chains} draws shows TV {floor:.4f} on average (the noise floor)")
    for name in names:
        print(f"final TV {name}: {curves[name][-1]:.4f} ({curves[name][-1] / floor:.2f} × floor), "
              f"acceptance rate {rates[name]:.3f}")
    if args.plot:
        plot(curves, floor, args.plot)
    return curves


def plot(curves: dict[str, list[float]], floor: float, path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        print("--plot needs matplotlib: pip install 'textsearch[plot]' (no PNG written)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        axes.plot(range(len(curve)), curve, label=name)
    axes.axhline(floor, color="grey", linestyle="--", label="exact sampling, same size")
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("total-variation distance to the target")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def schedules() -> dict[str, object]:
    return {
        "constant T=1 (plain MH)": ts.schedules.Constant(1.0),
        "linear 5 → 0.01": ts.schedules.Linear(5.0, 0.01),
        "exponential 5 → 0.01": ts.schedules.Exponential(5.0, 0.01),
        "logarithmic from 5": ts.schedules.Logarithmic(5.0),
        "hill climbing (T=0)": ts.schedules.Constant(0.0),
    }


def annealing(args) -> None:
    lm = ts.load_lm(args.model)
    energy = ts.objectives.Fluency(lm, gamma=1.0)
    original = lm.encode(args.sentence)
    generator = torch.Generator().manual_seed(args.seed)
    chains = args.anneal_chains
    shuffles = [[original[i] for i in torch.randperm(len(original), generator=generator).tolist()]
                for _ in range(chains)]
    e_original = energy([original]).item()
    print(f"\n(ii) simulated annealing: recover the order of '{args.sentence}' ({len(original)} tokens, "
          f"{math.factorial(len(original))} orders) with swap moves under E(x) = −log p_LM(x)")
    print(f"E(original) = {e_original:.2f}; {chains} chains per schedule start from shuffles such as "
          f"'{lm.decode(shuffles[0])}' (E = {energy([shuffles[0]]).item():.2f}); {args.anneal_steps} steps each")
    print("reached: chains whose best energy is at or below E(original) (to float rounding), i.e. that found the "
          "order or a likelier one")
    print(f"{'schedule':<26} {'reached':>9} {'mean best E':>12} {'acceptance':>10} {'seconds':>8}  best sentence")
    for name, schedule in schedules().items():
        start = time.perf_counter()
        sampler = ts.samplers.SimulatedAnnealing(ts.proposals.Swap(), schedule=schedule, steps=args.anneal_steps,
                                                 chains=chains, seed=args.seed)
        result = sampler.run(energy, init=shuffles, progress=False)
        best_per_chain = result.trace.min(0).values
        reached = sum(e <= e_original + ROUNDING for e in best_per_chain.tolist())
        print(f"{name:<26} {reached:>6}/{chains:<2} {best_per_chain.mean().item():>12.2f} "
              f"{result.acceptance_rate:>10.3f} {time.perf_counter() - start:>8.1f}  {result.best.text!r}")


def main() -> None:
    args = parse_args()
    print("Reproduces 【搜出来的文本】⋅(二) from MCMC to simulated annealing: MH and Gibbs converge to a "
          "known distribution (TV against steps); annealing with swap moves restores a shuffled sentence.")
    convergence(args)
    annealing(args)


if __name__ == "__main__":
    main()
