"""The typed records samplers return: a `Sample`, one info record per step, and the `Result`.

Like BlackJAX's `State`/`Info` pairs: a Markov step reports a `StepInfo` (what was
proposed and accepted in every chain), a batch of independent draws a `DrawInfo`, an
SMC step an `SMCInfo`. Each family of samplers returns its own `Result`: `MarkovResult`
(burn-in, acceptance per move, R-hat), `IndependentResult` (rejection: exact draws and
a log Z estimate) and `WeightedResult` (importance sampling, SMC: normalised weights).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from ..diagnostics import effective_sample_size, split_rhat


@dataclass
class Sample:
    """One sequence a sampler kept: its tokens, text (when a tokenizer is known) and energy."""
    tokens: list[int]
    text: str | None
    energy: float
    weight: float | None = None     # normalised weight (importance sampling, SMC)
    chain: int = 0
    step: int = 0


@dataclass
class StepInfo:
    """One Markov step of every chain."""
    step: int
    accepted: torch.Tensor              # [chains] bool
    log_alpha: torch.Tensor             # [chains] log acceptance probability
    kinds: list[str]                    # the move each chain tried ("stay": none)
    proposed_energies: torch.Tensor     # [chains]
    temperature: torch.Tensor           # [chains] the temperature of each chain at this step
    swaps_tried: int = 0                # parallel tempering: swaps between temperatures
    swaps_accepted: int = 0


@dataclass
class DrawInfo:
    """One batch of independent draws (rejection, importance sampling)."""
    step: int
    draws: int                          # draws of q used
    accepted: int                       # of those, kept (rejection) or allowed (importance: finite energy)


@dataclass
class SMCInfo:
    """One step of sequential Monte Carlo: every live particle extended by a token."""
    step: int
    live: int                           # particles still extending before the step
    ess: float                          # effective sample size of the weights after the step
    resampled: bool                     # whether the particles were resampled after it
    moves_accepted: float | None = None  # rejuvenation: share of accepted MCMC moves (None: none run)


@dataclass
class Result:
    """What every sampler returns.

    `samples` are the kept sequences, `best` the lowest-energy one seen, `trace` the energies
    per step and chain, `info` one record per step.
    """
    samples: list[Sample]
    best: Sample
    acceptance_rate: float
    trace: torch.Tensor                       # energies [steps, chains]
    info: list = field(default_factory=list)
    evaluations: int = 0                      # sequences scored
    requested: int = 0                        # energies asked for; the rest of them came from the cache
    seconds: float = 0.0

    def weights(self) -> torch.Tensor:
        """Normalised weight of every sample [n] (uniform for unweighted samplers)."""
        return torch.full((len(self.samples),), 1.0 / max(len(self.samples), 1), dtype=torch.float64)

    def ess(self) -> float:
        """Effective sample size of the samples."""
        return float(len(self.samples))

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


@dataclass
class MarkovResult(Result):
    """A Markov-chain sampler's result: samples are the chains' states after burn-in, thinned."""
    burn_in: int = 0
    kept_chains: list[int] | None = None      # chains whose states are samples (tempering: T=1); None = all
    acceptance_by_move: dict[str, float] = field(default_factory=dict)
    swap_rate: float | None = None            # parallel tempering

    def ess(self, values: torch.Tensor | None = None) -> float:
        """Multi-chain effective sample size of a scalar [steps, chains] (the energy after burn-in by default)."""
        return effective_sample_size(self._kept_trace() if values is None else values)

    def rhat(self, values: torch.Tensor | None = None) -> float:
        """Split R-hat across chains of a scalar [steps, chains] (the energy after burn-in by default)."""
        return split_rhat(self._kept_trace() if values is None else values)

    def _kept_trace(self) -> torch.Tensor:
        trace = self.trace[self.burn_in:]
        return trace if self.kept_chains is None else trace[:, self.kept_chains]


@dataclass
class IndependentResult(Result):
    """Independent exact draws (rejection sampling), with the log normaliser they estimate."""
    log_normalizer: float = float("nan")


@dataclass
class WeightedResult(IndependentResult):
    """Weighted draws (importance sampling, SMC): `log_weights` are normalised (logsumexp 0)."""
    log_weights: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.float64))

    def weights(self) -> torch.Tensor:
        return torch.exp(self.log_weights)

    def ess(self) -> float:
        """Kish's effective sample size 1 / Σ w²."""
        return float(1.0 / torch.exp(2 * self.log_weights).sum())
