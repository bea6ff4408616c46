"""What --trace shows: a search's steps, from its start (or how it grew) to the sentence it returned."""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch

from ..state import State


class TraceStep(NamedTuple):
    step: int               # SMC: tokens grown; then the start (init, smc) and each search step after it
    operation: str          # grow (an SMC particle's beginning after a resampling it survived), smc, init,
                            # insert, delete, replace
    energy: float           # nan for a beginning, which the energy does not score
    text: str

    def record(self) -> list:
        """The step as a JSON list (a nan energy as null)."""
        return [self.step, self.operation, None if math.isnan(self.energy) else self.energy, self.text]


def format_trace(trace: Sequence[TraceStep]) -> str:
    """The search as the blog prints it: one line per accepted edit."""
    lines = [f"{'step':>5}  {'operation':<9} {'energy':>8}  sentence"]
    lines += [f"{s.step:>5}  {s.operation:<9} {'' if math.isnan(s.energy) else format(s.energy, '.2f'):>8}  {s.text}"
              for s in trace]
    return "\n".join(lines)


class Recorder:
    """Per-chain trajectories for --trace: the start and every accepted edit that changed the text (a
    replace by the same word, or by another spelling of it, is no step to show)."""

    def __init__(self, lm, starts: list[State], energies: torch.Tensor,
                 histories: list[list[TraceStep]] | None = None):
        """`histories[c]`: how chain c's start was grown, its last step the start itself (empty or None:
        it was not grown; its search then counts from 0)."""
        self.decode = lm.decode
        histories = histories or [[] for _ in starts]
        self.offsets = [history[-1].step if history else 0 for history in histories]
        self.paths = [history[:-1] + [TraceStep(offset, history[-1].operation if history else "init", e,
                                                lm.decode(list(s.tokens)).strip())]
                      for s, e, offset, history in zip(starts, energies.tolist(), self.offsets, histories)]

    def __call__(self, step: int, states: list[State], energies: torch.Tensor, info: dict) -> None:
        for chain, accepted in enumerate(info.accepted.tolist()):
            text = self.decode(list(states[chain].tokens)).strip() if accepted else None
            if accepted and info.kinds[chain] != "stay" and text != self.paths[chain][-1].text:
                self.paths[chain].append(TraceStep(self.offsets[chain] + step + 1, info.kinds[chain],
                                                   float(energies[chain]), text))

    def path(self, chain: int, best_step: int) -> list[TraceStep]:
        """The chain's trajectory up to the search step that reached the best sentence."""
        return [s for s in self.paths[chain] if s.step <= self.offsets[chain] + best_step + 1]
