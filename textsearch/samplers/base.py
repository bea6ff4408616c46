"""The run loop shared by the Markov-chain samplers.

A sampler is `init` (states and energies) plus `step` (one transition of every
chain, returning a `StepInfo`; by default the MH step of `kernel`); `run` drives them, keeps samples after burn-in and
thinning, tracks the best state and the per-step energies, and shows progress. The
proposal's and the objective's sessions span the run, so a language model behind
either keeps the states of what it scored until the run ends.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..objectives.base import Objective
from ..proposals.base import Proposal
from ..sessions import all_of
from ..state import State, as_state
from ..target import Target
from .kernel import mh_step
from .records import MarkovResult, Sample, StepInfo


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

    def __init__(self, proposal: Proposal, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1,
                 seed: int = 0):
        if not isinstance(proposal, Proposal):
            raise TypeError(f"{type(proposal).__name__} is not a proposal: subclass textsearch.proposals.Proposal "
                            "and implement propose(states, energies, target)")
        if steps < 1 or chains < 1 or thin < 1 or burn_in < 0:
            raise ValueError(f"need steps >= 1, chains >= 1, thin >= 1, burn_in >= 0 (got {steps}, {chains}, {thin}, {burn_in})")
        if burn_in >= steps:
            raise ValueError(f"burn_in ({burn_in}) must be smaller than steps ({steps})")
        self.proposal, self.steps, self.chains = proposal, steps, chains
        self.burn_in, self.thin, self.seed = burn_in, thin, seed

    def temperatures(self, step: int) -> torch.Tensor:
        """Temperature of every chain at this step [chains]."""
        return torch.ones(self.chains, dtype=torch.float64)

    def step(self, states: list[State], energies: torch.Tensor, target: Target
             ) -> tuple[list[State], torch.Tensor, StepInfo]:
        """One transition of every chain: (states, energies, info); the MH step with the proposal."""
        return mh_step(self.proposal, states, energies, target)

    def keeps(self, chain: int) -> bool:
        """Whether this chain's states are samples of the target (tempering keeps T=1 only)."""
        return True

    def initial_states(self, init, tokenizer, generator: torch.Generator) -> list[State]:
        """Starting state of every chain (tempering repeats the user's chains at each temperature)."""
        return resolve_init(init, self.chains, tokenizer, self.proposal, generator)

    def run(self, objective: Objective, init=None, callback: Callable | None = None,
            progress: bool = True) -> MarkovResult:
        """Run the chains from `init` (text, token ids, a State, or one per chain; None: the proposal's
        start). `callback(step, states, energies, info)` is called after every step."""
        with all_of([self.proposal, objective]):
            return self._run(objective, init, callback, progress)

    def _run(self, objective: Objective, init, callback: Callable | None, progress: bool) -> MarkovResult:
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
        if math.isinf(energy):
            warnings.warn(f"no state met the constraints: all {target.evaluations} states scored had energy inf; "
                          "start from a state that meets them, or run more steps", RuntimeWarning, stacklevel=3)
        kept = [c for c in range(self.chains) if self.keeps(c)]
        return MarkovResult(
            samples=samples,
            best=Sample(list(state.tokens), make_text(tokenizer, state.tokens), energy, chain=chain, step=step),
            acceptance_rate=_mean(i.accepted for i in infos),
            trace=torch.stack(trace),
            info=infos,
            evaluations=target.evaluations,
            requested=target.requested,
            seconds=time.perf_counter() - start,
            burn_in=self.burn_in,
            kept_chains=None if len(kept) == self.chains else kept,
            acceptance_by_move=_by_move(infos),
            swap_rate=_swap_rate(infos),
        )


def _mean(values) -> float:
    values = [v.float().mean().item() for v in values]
    return sum(values) / len(values) if values else 0.0


def _by_move(infos: list[StepInfo]) -> dict[str, float]:
    counts: dict[str, list[int]] = {}
    for info in infos:
        for kind, ok in zip(info.kinds, info.accepted.tolist()):
            tally = counts.setdefault(kind, [0, 0])
            tally[0] += int(ok)
            tally[1] += 1
    return {kind: a / n for kind, (a, n) in sorted(counts.items())}


def _swap_rate(infos: list[StepInfo]) -> float | None:
    tried = sum(i.swaps_tried for i in infos)
    return sum(i.swaps_accepted for i in infos) / tried if tried else None
