"""The Metropolis–Hastings transition: accept y with min(1, p(y) q(x←y) / p(x) q(y←x)), in log space.

Every Markov sampler's step is this transition (`mh_step`); they differ only in the
proposal and the temperature of each chain. A chain at temperature 0 takes exactly the
moves that do not raise its energy (the T → 0 limit of the rule): hill climbing.
"""
from __future__ import annotations

import torch

from ..proposals.base import Move
from ..state import State
from ..target import Target
from .records import StepInfo


def acceptance_log_prob(log_p_current: torch.Tensor, log_p_proposed: torch.Tensor,
                        log_q_forward: torch.Tensor, log_q_reverse: torch.Tensor) -> torch.Tensor:
    """log α = log p(y) − log p(x) + log q(x←y) − log q(y←x), with forbidden states handled.

    y forbidden (log p = −inf) or unable to return: −inf. x forbidden and y allowed: 0,
    even when y cannot return (p(x) = 0, so there is no balance to keep: leave the
    forbidden region). Both forbidden: the proposal ratio alone, a walk.
    """
    log_ratio = log_q_reverse - log_q_forward
    current_forbidden, proposed_forbidden = torch.isneginf(log_p_current), torch.isneginf(log_p_proposed)
    log_alpha = torch.where(current_forbidden & proposed_forbidden, log_ratio,
                            log_p_proposed - log_p_current + log_ratio)
    log_alpha = torch.where(torch.isneginf(log_q_reverse), torch.full_like(log_alpha, -torch.inf), log_alpha)
    log_alpha = torch.where(current_forbidden & ~proposed_forbidden, torch.zeros_like(log_alpha), log_alpha)
    if torch.isnan(log_alpha).any():
        raise ValueError("the acceptance ratio is NaN: a proposal reported NaN or +inf log-probabilities")
    return log_alpha.clamp(max=0.0)


def mh_step(proposal, states: list[State], energies: torch.Tensor, target: Target
            ) -> tuple[list[State], torch.Tensor, StepInfo]:
    """One MH transition of every chain: (states, energies, info)."""
    return mh_accept(proposal.propose(states, energies, target), states, energies, target)


def mh_accept(move: Move, states: list[State], energies: torch.Tensor, target: Target
              ) -> tuple[list[State], torch.Tensor, StepInfo]:
    """Accept or reject a proposed move in every chain: (states, energies, info)."""
    proposed_energies = move.energies if move.energies is not None else target.energy(move.states)
    cold = target.temperature == 0                       # hill climbing: take y iff E(y) <= E(x)
    temperature = torch.where(cold, 1.0, target.temperature)
    log_alpha = acceptance_log_prob(-energies / temperature, -proposed_energies / temperature,
                                    move.log_q_forward.to(torch.float64), move.log_q_reverse.to(torch.float64))
    downhill = torch.where(proposed_energies <= energies, 0.0, -torch.inf).to(torch.float64)
    log_alpha = torch.where(cold, downhill, log_alpha)
    if move.always_accept:
        accepted = torch.ones(len(states), dtype=torch.bool)
    else:
        u = torch.rand(len(states), generator=target.generator, dtype=torch.float64)
        accepted = torch.log(u) < log_alpha
    new_states = [y if ok else x for x, y, ok in zip(states, move.states, accepted.tolist())]
    new_energies = torch.where(accepted, proposed_energies, energies)
    info = StepInfo(target.step, accepted, log_alpha, list(move.kinds), proposed_energies,
                    target.temperature.clone())
    return new_states, new_energies, info
