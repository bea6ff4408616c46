"""The run loop shared by the Markov-chain samplers, and the records they return.

A sampler is `init` (states and energies) plus `step` (one transition of every
chain, returning an `info` dict); `run` drives them, keeps samples after burn-in and
thinning, tracks the best state and the per-step energies, and shows progress.
"""
from __future__ import annotations

import math
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..objectives.base import Objective
from ..sequences import State, as_state
from ..target import Target


@dataclass
class Sample:
    tokens: list[int]
    text: str | None
    energy: float
    weight: float | None = None
    chain: int = 0
    step: int = 0


@dataclass
class Result:
    samples: list[Sample]
    best: Sample
    acceptance_rate: float
    trace: torch.Tensor                       # energies [steps, chains]
    info: list[dict] = field(default_factory=list)
    acceptance_by_move: dict[str, float] = field(default_factory=dict)
    swap_rate: float | None = None            # parallel tempering
    evaluations: int = 0                      # sequences scored
    requested: int = 0                        # energies asked for; the rest of them came from the cache
    seconds: float = 0.0
    kept_chains: list[int] | None = None      # chains whose states are samples (tempering: T=1); None = all
    log_weights: torch.Tensor | None = None   # importance sampling: normalised log-weights of the samples
    log_normalizer: float | None = None       # estimate of log Z (rejection, importance)

    def ess(self, values: torch.Tensor | None = None) -> float:
        """Effective sample size: of a scalar [steps, chains] (energy after burn-in by default);
        for weighted samples, Kish's 1 / Σ w²."""
        if values is None and self.log_weights is not None:
            return float(1.0 / torch.exp(2 * self.log_weights).sum())
        from ..diagnostics import effective_sample_size
        return effective_sample_size(self._kept_trace() if values is None else values)

    def rhat(self, values: torch.Tensor | None = None) -> float:
        """Split R-hat across chains of a scalar [steps, chains] (energy after burn-in by default)."""
        from ..diagnostics import split_rhat
        return split_rhat(self._kept_trace() if values is None else values)

    def weights(self) -> torch.Tensor:
        """Normalised weight of every sample [n] (uniform for unweighted samplers)."""
        if self.log_weights is not None:
            return torch.exp(self.log_weights)
        return torch.full((len(self.samples),), 1.0 / max(len(self.samples), 1), dtype=torch.float64)

    def expectation(self, fn: Callable[[list[int]], float]) -> float:
        """Estimate of E_p[fn(tokens)] from the (weighted) samples."""
        if not self.samples:
            raise ValueError("the result has no samples to average over")
        pairs = [(w, s) for w, s in zip(self.weights().tolist(), self.samples) if w > 0]
        return sum(w * float(fn(s.tokens)) for w, s in pairs) / sum(w for w, _ in pairs)

    def resample(self, n: int, seed: int = 0) -> list[Sample]:
        """n samples drawn with replacement in proportion to their weights (unweighted copies)."""
        if n < 1 or not self.samples:
            raise ValueError(f"resample needs n >= 1 and a result with samples (n={n}, {len(self.samples)} samples)")
        generator = torch.Generator().manual_seed(seed)
        picks = torch.multinomial(self.weights(), n, replacement=True, generator=generator).tolist()
        return [replace(self.samples[i], weight=None) for i in picks]

    def _kept_trace(self) -> torch.Tensor:
        burn = self.info[0].get("burn_in", 0) if self.info else 0
        trace = self.trace[burn:]
        return trace if self.kept_chains is None else trace[:, self.kept_chains]


def make_text(tokenizer, tokens) -> str | None:
    return None if tokenizer is None else tokenizer.decode(list(tokens), skip_special_tokens=True)


def resolve_init(init, chains: int, tokenizer, proposal, generator) -> list[State]:
    """States for every chain from text, token ids, States, or a list of those (one per chain)."""
    def one(item) -> State:
        if isinstance(item, str):
            if tokenizer is None:
                raise ValueError("init is text but neither the proposal nor the objective has a tokenizer: pass token ids")
            return State(tuple(tokenizer.encode(item, add_special_tokens=False)))
        return as_state(item)

    if init is None:
        states = proposal.initial(chains, generator) if proposal is not None else None
        if states is None:
            raise ValueError("this proposal has no default start: pass init= (text, token ids, or one per chain)")
        return states
    if isinstance(init, (str, State)) or (len(init) > 0 and isinstance(init[0], int)) or len(init) == 0:
        return [one(init)] * chains
    if len(init) != chains:
        raise ValueError(f"init has {len(init)} entries for {chains} chains: give one, or one per chain")
    return [one(item) for item in init]


def show_progress(progress: bool) -> bool:
    return progress and sys.stderr.isatty()


def attach_texts(samples: list[Sample], tokenizer) -> None:
    """Decode each distinct token sequence once and give every sample its text."""
    texts = {}
    for sample in samples:
        key = tuple(sample.tokens)
        if key not in texts:
            texts[key] = make_text(tokenizer, key)
        sample.text = texts[key]


class MarkovSampler:
    """Base of MH, Gibbs, annealing and tempering: subclasses define `temperatures` and `step`."""

    def __init__(self, proposal, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1, seed: int = 0):
        if steps < 1 or chains < 1 or thin < 1 or burn_in < 0:
            raise ValueError(f"need steps >= 1, chains >= 1, thin >= 1, burn_in >= 0 (got {steps}, {chains}, {thin}, {burn_in})")
        if burn_in >= steps:
            raise ValueError(f"burn_in ({burn_in}) must be smaller than steps ({steps})")
        self.proposal, self.steps, self.chains = proposal, steps, chains
        self.burn_in, self.thin, self.seed = burn_in, thin, seed

    def temperatures(self, step: int) -> torch.Tensor:
        """Temperature of every chain at this step [chains]."""
        return torch.ones(self.chains, dtype=torch.float64)

    def step(self, states: list[State], energies: torch.Tensor, target: Target):
        """One transition of every chain: (states, energies, info)."""
        raise NotImplementedError

    def keeps(self, chain: int) -> bool:
        """Whether this chain's states are samples of the target (tempering keeps T=1 only)."""
        return True

    def initial_states(self, init, tokenizer, generator: torch.Generator) -> list[State]:
        """Starting state of every chain (tempering repeats the user's chains at each temperature)."""
        return resolve_init(init, self.chains, tokenizer, self.proposal, generator)

    def run(self, objective: Objective, init=None, callback: Callable | None = None, progress: bool = True) -> Result:
        """Run the chains; a proposal's `session()` (if it has one) spans the run, e.g. to keep model states."""
        with getattr(self.proposal, "session", nullcontext)():
            return self._run(objective, init, callback, progress)

    def _run(self, objective: Objective, init, callback: Callable | None, progress: bool) -> Result:
        import time
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(self.seed)
        tokenizer = self.proposal.tokenizer or objective.tokenizer
        target = Target(objective, self.temperatures(0), tokenizer, generator)
        states = self.initial_states(init, tokenizer, generator)
        energies = target.energy(states)
        best_energy, best = math.inf, (states[0], energies[0].item(), 0, 0)
        samples, trace, infos = [], [], []
        for step in tqdm(range(self.steps), disable=not show_progress(progress), desc=type(self).__name__):
            target.step, target.temperature = step, self.temperatures(step)
            states, energies, info = self.step(states, energies, target)
            info["step"], info["burn_in"] = step, self.burn_in
            trace.append(energies.clone())
            infos.append(info)
            low = int(torch.argmin(energies))
            if energies[low].item() < best_energy:
                best_energy, best = energies[low].item(), (states[low], energies[low].item(), low, step)
            if step >= self.burn_in and (step - self.burn_in) % self.thin == 0:
                samples.extend(Sample(list(s.tokens), None, e, chain=c, step=step)
                               for c, (s, e) in enumerate(zip(states, energies.tolist())) if self.keeps(c))
            if callback is not None:
                callback(step, states, energies, info)
        attach_texts(samples, tokenizer)
        state, energy, chain, step = best
        kept = [c for c in range(self.chains) if self.keeps(c)]
        return Result(
            samples=samples,
            best=Sample(list(state.tokens), make_text(tokenizer, state.tokens), energy, chain=chain, step=step),
            acceptance_rate=_mean(i["accepted"] for i in infos),
            trace=torch.stack(trace),
            info=infos,
            acceptance_by_move=_by_move(infos),
            swap_rate=_swap_rate(infos),
            evaluations=target.evaluations,
            requested=target.requested,
            seconds=time.perf_counter() - start,
            kept_chains=None if len(kept) == self.chains else kept,
        )


def _mean(values) -> float:
    values = [v.float().mean().item() if torch.is_tensor(v) else float(v) for v in values]
    return sum(values) / len(values) if values else 0.0


def _by_move(infos: list[dict]) -> dict[str, float]:
    counts: dict[str, list[int]] = {}
    for info in infos:
        for kind, ok in zip(info.get("kinds", []), info["accepted"].tolist()):
            tally = counts.setdefault(kind, [0, 0])
            tally[0] += int(ok)
            tally[1] += 1
    return {kind: a / n for kind, (a, n) in sorted(counts.items())}


def _swap_rate(infos: list[dict]) -> float | None:
    tried = sum(i.get("swaps_tried", 0) for i in infos)
    return sum(i.get("swaps_accepted", 0) for i in infos) / tried if tried else None
