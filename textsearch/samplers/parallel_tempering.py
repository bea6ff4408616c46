"""Parallel tempering: replicas at a ladder of temperatures that exchange states.

Every replica takes an MH step at its own temperature (all replicas in one objective
call), then neighbouring temperatures propose to swap states, accepted with
min(1, exp((1/T_i − 1/T_j)(E_i − E_j))) — the MH rule for the joint target
Π_k p(x_k)^(1/T_k), which the swap leaves symmetric. Even and odd pairs alternate
(deterministic even–odd swaps), each a target-preserving move. Hot replicas cross
energy barriers and hand good states down; the T = 1 replicas are the samples.
"""
from __future__ import annotations

import torch

from ..state import State
from ..target import Target
from .base import MarkovSampler, resolve_init
from .kernel import mh_step


def check_ladder(temperatures) -> list[float]:
    ladder = [float(t) for t in temperatures]
    if not ladder or any(not t > 0 or t == float("inf") for t in ladder):
        raise ValueError(f"temperatures must be finite and > 0, got {ladder}")
    if any(a >= b for a, b in zip(ladder, ladder[1:])):
        raise ValueError(f"temperatures must be strictly increasing, got {ladder}")
    if 1.0 not in ladder:
        raise ValueError(f"temperatures must include 1.0 (the replicas that are samples of the target), got {ladder}")
    return ladder


class ParallelTempering(MarkovSampler):
    """`chains` replicas at each temperature; replica r runs at ladder[r // chains].

    Parameters
    ----------
    proposal
        A `Proposal`: the move each replica tries at each step.
    temperatures
        The ladder, starting at 1 (whose replicas are the samples).
    steps, chains
        Steps per chain, and how many chains run side by side (one batched objective call per step).
    burn_in, thin
        Steps dropped before samples are kept, and keep every `thin`-th step after that.
    seed
        Seed of the run's random stream: the same seed gives the same run.
    swap_every
        Steps between attempts to swap neighbouring temperatures.
    """

    def __init__(self, proposal, temperatures, steps: int, chains: int = 1, burn_in: int = 0, thin: int = 1,
                 seed: int = 0, swap_every: int = 1):
        ladder = check_ladder(temperatures)
        if not isinstance(swap_every, int) or swap_every < 1:
            raise ValueError(f"swap_every must be an integer >= 1, got {swap_every!r}")
        if not isinstance(chains, int) or chains < 1:
            raise ValueError(f"chains must be an integer >= 1, got {chains!r}")
        super().__init__(proposal, steps, chains * len(ladder), burn_in, thin, seed)
        self.ladder, self.chains_per_temperature, self.swap_every = ladder, chains, swap_every
        self.replica_temperatures = torch.tensor(ladder, dtype=torch.float64).repeat_interleave(chains)

    def temperatures(self, step: int) -> torch.Tensor:
        return self.replica_temperatures

    def keeps(self, chain: int) -> bool:
        return self.ladder[chain // self.chains_per_temperature] == 1.0

    def initial_states(self, init, tokenizer, generator: torch.Generator) -> list[State]:
        """The user's chains (one init, or one per chain), repeated at every temperature."""
        return resolve_init(init, self.chains_per_temperature, tokenizer, self.proposal, generator) * len(self.ladder)

    def step(self, states: list[State], energies: torch.Tensor, target: Target):
        states, energies, info = mh_step(self.proposal, states, energies, target)
        if target.step % self.swap_every == 0:
            states, energies, info.swaps_tried, info.swaps_accepted = self.swap(states, energies, target)
        return states, energies, info

    def swap(self, states: list[State], energies: torch.Tensor, target: Target):
        """Swap states between temperatures k and k+1 for every k of this round's parity."""
        parity = (target.step // self.swap_every) % 2
        n = self.chains_per_temperature
        lower = torch.tensor([k * n + c for k in range(parity, len(self.ladder) - 1, 2) for c in range(n)],
                             dtype=torch.long)
        if len(lower) == 0:
            return states, energies, 0, 0
        upper = lower + n
        beta = 1.0 / self.replica_temperatures
        log_alpha = (beta[lower] - beta[upper]) * (energies[lower] - energies[upper])
        log_alpha = torch.where(torch.isnan(log_alpha), 0.0, log_alpha)   # both forbidden (inf − inf): harmless
        accepted = torch.log(torch.rand(len(lower), generator=target.generator, dtype=torch.float64)) < log_alpha
        i, j = lower[accepted], upper[accepted]
        states = list(states)
        for a, b in zip(i.tolist(), j.tolist()):
            states[a], states[b] = states[b], states[a]
        energies = energies.clone()
        energies[i], energies[j] = energies[j], energies[i]
        return states, energies, len(lower), int(accepted.sum())
