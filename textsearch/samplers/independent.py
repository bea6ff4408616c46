"""What rejection and importance sampling share: independent draws from q, scored in batches.

Each batch of draws costs one objective call; their results hold one "chain" of
independent draws (`IndependentResult`, `WeightedResult`).
"""
from __future__ import annotations

import time

import torch

from ..objectives.base import Objective
from ..proposals.base import SequenceDistribution
from ..state import State
from ..target import Target
from .base import attach_texts, make_text
from .records import IndependentResult, Sample


def check_independent(q, num_samples: int, batch_size: int) -> None:
    if not callable(getattr(q, "sample", None)):
        raise TypeError(f"q must be a sequence distribution with sample(n, generator) -> (sequences, log_q), "
                        f"got {type(q).__name__}")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def start(q: SequenceDistribution, objective: Objective, seed: int, init) -> Target:
    """The target for a run of independent draws (they start from q, never from init)."""
    if init is not None:
        raise ValueError("rejection and importance sampling draw from q: init is not used, leave it None")
    tokenizer = getattr(q, "tokenizer", None) or objective.tokenizer
    return Target(objective, torch.ones(1, dtype=torch.float64), tokenizer, torch.Generator().manual_seed(seed))


def draw(q: SequenceDistribution, n: int, target: Target) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """n draws from q: (sequences, log q [n], log p̃ = −E [n]), scored in one objective call."""
    sequences, log_q = q.sample(n, target.generator)
    energies = target.energy([State(tuple(s)) for s in sequences])
    log_q = torch.as_tensor(log_q, dtype=torch.float64)
    if torch.isnan(log_q).any() or torch.isinf(log_q).any():
        raise ValueError("q reported a NaN or infinite log-probability for one of its own draws")
    if torch.isneginf(energies).any():
        raise ValueError("an energy is -inf: exp(-E) has no normaliser; give every state a finite or +inf energy")
    return [list(s) for s in sequences], log_q, -energies


def finish(result_type: type[IndependentResult], samples: list[Sample], best: Sample | None, target: Target,
           started: float, **fields) -> IndependentResult:
    """A result with texts, the trace of the kept samples' energies and the evaluation count."""
    attach_texts(samples, target.tokenizer)
    if best is not None:
        best.text = make_text(target.tokenizer, best.tokens)
    trace = torch.tensor([[s.energy] for s in samples], dtype=torch.float64).view(-1, 1)
    return result_type(samples=samples, best=best, trace=trace, evaluations=target.evaluations,
                       requested=target.requested, seconds=time.perf_counter() - started, **fields)


def lowest(best: Sample | None, sequences: list[list[int]], energies: torch.Tensor, step: int) -> Sample | None:
    """The lower-energy of `best` and the best of this batch."""
    i = int(torch.argmin(energies))
    if best is None or energies[i].item() < best.energy:
        return Sample(sequences[i], None, energies[i].item(), step=step)
    return best
