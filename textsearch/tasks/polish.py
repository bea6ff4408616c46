"""The last phase of every task: a short annealing search from its best starts, under its energy.

A task finds starts its own way (SMC particles, prompted drafts, the user's sentence)
and hands them here; the search never returns worse than its best start.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..objectives import Objective
from ..proposals import Proposal
from ..samplers import Sample, SimulatedAnnealing
from ..state import State
from .seeds import phase_seed
from .trace import Recorder, TraceStep


class Polished(NamedTuple):
    sample: Sample                  # the lowest-energy sentence seen (step −1: a start)
    trace: list[TraceStep]          # how it was reached, if traced


def polish(lm, proposal: Proposal, schedule, objective: Objective, starts: list[State], steps: int, seed: int,
           history: list[list[TraceStep]] | None = None, trace: bool = False, progress: bool = False) -> Polished:
    """Anneal one chain from each start for `steps` steps (`history[c]`: how start c was found, for the
    trace); the lowest-energy sentence seen, starts included."""
    start_energies = objective(starts)
    recorder = Recorder(lm, starts, start_energies, history) if trace else None
    sampler = SimulatedAnnealing(proposal, schedule, steps=steps, chains=len(starts), seed=phase_seed(seed, "search"))
    best = sampler.run(objective, init=starts, callback=recorder, progress=progress).best
    first = int(torch.argmin(start_energies))
    if start_energies[first] <= best.energy:           # the search never beat its start
        tokens = list(starts[first].tokens)
        best = Sample(tokens, lm.decode(tokens), float(start_energies[first]), chain=first, step=-1)
    return Polished(best, recorder.path(best.chain, best.step) if trace else [])
