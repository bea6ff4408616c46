"""Sequential Monte Carlo over token sequences (Lew et al. 2023, "SMC steering of LLMs").

The target is the LM's own distribution over the continuations of a prompt, reweighted
by an energy:

    π(x) ∝ (p_LM(x | prompt) · P_stop(x))^β · exp(−E(x)),   1 ≤ |x| ≤ max_new_tokens,

P_stop(x) the model's probability of a stop token after x (summed over the stop set;
a particle that reaches max_new_tokens ends with it), x made of ordinary tokens. β > 1
sharpens the LM toward its likelier sentences as a whole, where sampling each token at
temperature 1/β favours likely next tokens whatever follows them. N particles grow
token by token from a proposal q, the LM at the sampler's temperature bent by the
twist's logit bonus, and carry the importance weight

    w = Π p(x_t | x_<t)^β / q(x_t | x_<t) · ψ(x_≤t) / ψ(x_<t),

its last factor at the end P_stop(x)^β / Q_stop(x) · exp(−E(x)) / ψ(x), so the twist ψ
guides without changing the target. When the effective sample size falls below
`ess_threshold` · N the particles are resampled; log Ẑ, the sum over resamplings of
log mean w, estimates log Σ_x π̃(x) without bias in Ẑ. Particles still growing take one
forward per step together (the model keeps their states in its session, so each step
runs one new token per particle), and SMC runs of several prompts inside
`lm.taking_turns` share those forwards.

Rejuvenation (resample-move): after the last step the particles are resampled to equal
weights and each runs `rejuvenate_steps` MH steps with an MCMC proposal under −log π̃,
which leaves π invariant, so the particles stay draws of the target while the edits
mix them.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from ..lm.drafting import draw_tokens
from ..lm.vocabulary import ordinary_tokens
from ..objectives.base import Objective
from ..objectives.fluency import Fluency
from ..objectives.text import tokens_for
from ..proposals.base import Proposal
from ..proposals.lm_sampler import LMSampler
from ..sessions import all_of
from ..state import State
from ..target import Target
from .base import attach_texts, make_text
from .metropolis_hastings import MetropolisHastings
from .records import Sample, SMCInfo, WeightedResult
from .resampling import SCHEMES, effective_sample_size, resample
from .twists import Twist


class SMC:
    """Sequential Monte Carlo from an `LMSampler`'s prompt, under an energy.

    Parameters
    ----------
    q
        The `LMSampler` whose prompt, temperature, stop tokens and `max_new_tokens` the particles
        use. Its temperature shapes the proposal only; `top_k` must be None (a cut proposal could
        never write what the target allows).
    particles
        How many particles.
    beta
        The exponent of the LM in the target (1: the LM's own distribution). A proposal at
        temperature 1/β keeps the weights even.
    ess_threshold
        Resample when the effective sample size falls below this share of `particles` (0: never,
        1: every step).
    resampling
        "systematic" or "multinomial".
    twist
        A `Twist` that guides the particles (None: none).
    rejuvenate, rejuvenate_steps
        An MCMC proposal (e.g. `EditProposal`) run for this many MH steps on the particles after the
        last step; its moves must keep to ordinary tokens and `max_new_tokens`.
    seed
        Seed of the run's random stream.
    """

    def __init__(self, q: LMSampler, particles: int = 16, beta: float = 1.0, ess_threshold: float = 0.5,
                 resampling: str = "systematic", twist: Twist | None = None,
                 rejuvenate: Proposal | None = None, rejuvenate_steps: int = 0, seed: int = 0):
        if not isinstance(q, LMSampler):
            raise TypeError(f"q must be an LMSampler (the prompt and settings the particles grow from), "
                            f"got {type(q).__name__}")
        if q.top_k is not None:
            raise ValueError("SMC needs an LMSampler with top_k=None: a cut proposal never writes tokens "
                             "the target allows, and the weights cannot correct for that")
        if not isinstance(particles, int) or particles < 1:
            raise ValueError(f"particles must be a positive integer, got {particles!r}")
        if not (isinstance(beta, (int, float)) and 0 < beta < math.inf):
            raise ValueError(f"beta must be a positive number, got {beta!r}")
        if not 0 <= ess_threshold <= 1:
            raise ValueError(f"ess_threshold must lie in [0, 1], got {ess_threshold!r}")
        if resampling not in SCHEMES:
            raise ValueError(f"resampling must be one of {SCHEMES}, got {resampling!r}")
        if rejuvenate is not None and not isinstance(rejuvenate, Proposal):
            raise TypeError(f"rejuvenate must be a textsearch Proposal, got {type(rejuvenate).__name__}")
        if not isinstance(rejuvenate_steps, int) or rejuvenate_steps < 0:
            raise ValueError(f"rejuvenate_steps must be a non-negative integer, got {rejuvenate_steps!r}")
        if q.lm.eos_id is None and not q.stop.any():
            raise ValueError("the sampler has no stop token: give stop_at so particles can end")
        self.q, self.lm, self.particles, self.ess_threshold = q, q.lm, particles, float(ess_threshold)
        self.resampling, self.twist, self.seed, self.beta = resampling, twist or Twist(), seed, float(beta)
        self.rejuvenate, self.rejuvenate_steps = rejuvenate, rejuvenate_steps
        self.context = q.context[1:] if q.context[:1] == [self.lm.start_id] else list(q.context)
        self.writable = ordinary_tokens(self.lm) & ~q.stop
        self.stop_ids = q.stop.nonzero()[:, 0].tolist()

    def base_energy(self) -> Objective:
        """−β (log p_LM(x | prompt) + log P_stop(x)), +inf outside the target's support: the energy under
        which rejuvenation moves the particles (the target is exp(−base − E))."""
        return Fluency(self.lm, gamma=self.beta, end=self.stop_ids, context=self.context) + _Support(self)

    def run(self, objective: Objective, init=None, callback: Callable | None = None,
            progress: bool = True) -> WeightedResult:
        """The particles, their normalised weights, and log Ẑ. `callback(step, particles, log_weights,
        info)` is called after every step."""
        if init is not None:
            raise ValueError("SMC grows its particles from the prompt: init is not used, leave it None")
        with all_of([self.lm, objective] + ([self.rejuvenate] if self.rejuvenate is not None else [])):
            return self._run(objective, callback)

    def _run(self, objective: Objective, callback: Callable | None) -> WeightedResult:
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(self.seed)
        n, limit = self.particles, self.q.max_new_tokens
        target = Target(objective, torch.ones(n, dtype=torch.float64), self.lm.tokenizer, generator)
        tokens: list[list[int]] = [[] for _ in range(n)]
        done = torch.zeros(n, dtype=torch.bool)
        log_w = torch.zeros(n, dtype=torch.float64)
        log_base = torch.zeros(n, dtype=torch.float64)          # β log p(x) P_stop(x) of each particle so far
        energies = torch.full((n,), math.inf, dtype=torch.float64)
        psi = self.twist.log_potential([[]], limit).expand(n).clone()
        log_w += psi
        log_z, infos = 0.0, []
        for step in range(limit + 1):
            live = [i for i in range(n) if not done[i] and math.isfinite(log_w[i])]
            done[[i for i in range(n) if not math.isfinite(log_w[i])]] = True
            if not live:
                break
            ended = self._extend(live, tokens, step == limit, log_w, log_base, psi, generator)
            if ended:
                done[ended] = True
                e = target.energy([State(tuple(tokens[i])) for i in ended])
                if torch.isneginf(e).any():
                    raise ValueError("an energy is -inf: exp(-E) has no normaliser; give every state a finite "
                                     "or +inf energy")
                energies[ended] = e
                log_w[ended] += -e - psi[ended]
            ess = effective_sample_size(log_w)
            resampled = bool(ess < self.ess_threshold * n and not done.all() and ess > 0)
            if resampled:
                log_z += float(torch.logsumexp(log_w, dim=0)) - math.log(n)
                picks = resample(log_w, self.resampling, generator)
                tokens = [list(tokens[i]) for i in picks]
                done, log_base, energies, psi = done[picks], log_base[picks], energies[picks], psi[picks]
                log_w = torch.zeros(n, dtype=torch.float64)
            info = SMCInfo(step, len(live), ess, resampled)
            infos.append(info)
            if callback is not None:
                callback(step, tokens, log_w, info)
        if torch.isneginf(log_w).all():
            raise ValueError(f"all {n} particles have zero weight (an infinite energy, or a twist that found no "
                             "way to end well): use more particles or max_new_tokens, or loosen the constraints")
        log_z += float(torch.logsumexp(log_w, dim=0)) - math.log(n)
        if self.rejuvenate is not None and self.rejuvenate_steps > 0:
            tokens, energies, log_w, moved = self._rejuvenated(objective, tokens, log_w, generator)
            infos.append(SMCInfo(len(infos), 0, float(n), True, moved))
        totals = energies - log_base if self.rejuvenate is None or self.rejuvenate_steps == 0 else energies
        normalised = log_w - torch.logsumexp(log_w, dim=0)
        samples = [Sample(t, None, float(e), weight=float(w), chain=i, step=len(infos) - 1)
                   for i, (t, e, w) in enumerate(zip(tokens, totals.tolist(), normalised.exp().tolist()))]
        attach_texts(samples, self.lm.tokenizer)
        finite = [s for s in samples if math.isfinite(s.energy)]
        best = min(finite or samples, key=lambda s: s.energy)
        best = Sample(list(best.tokens), make_text(self.lm.tokenizer, best.tokens), best.energy, chain=best.chain,
                      step=best.step)
        return WeightedResult(samples=samples, best=best, acceptance_rate=float(torch.isfinite(log_w).double().mean()),
                              trace=totals.view(1, -1), info=infos, evaluations=target.evaluations,
                              requested=target.requested, seconds=time.perf_counter() - started,
                              log_normalizer=log_z, log_weights=normalised)

    def _extend(self, live: list[int], tokens: list[list[int]], last: bool, log_w: torch.Tensor,
                log_base: torch.Tensor, psi: torch.Tensor, generator: torch.Generator) -> list[int]:
        """One token for each live particle, weights updated in place; the particles that ended."""
        prefixes = [tokens[i] for i in live]
        # [n, V] work in float32, in place where it can be (a step of many particles holds several such
        # arrays at once); the weights add up in float64
        log_p = self.lm.next_token_log_probs(prefixes, self.context)
        stop_p = self.beta * torch.logsumexp(log_p[:, self.stop_ids].double(), dim=-1)
        ended = []
        if last:                                                 # the length limit: every particle ends
            for row, i in enumerate(live):
                log_w[i] += stop_p[row]
                log_base[i] += stop_p[row]
            return list(live)
        log_q = log_p.masked_fill(~(self.writable | self.q.stop), -math.inf).div_(self.q.temperature)
        bonus = self.twist.logit_bonus(prefixes)
        if bonus is not None:
            log_q += bonus
        may_stop = self.twist.may_stop(prefixes) & torch.tensor([len(p) > 0 for p in prefixes])
        log_q[~may_stop] = log_q[~may_stop].masked_fill(self.q.stop, -math.inf)
        log_q -= log_q.logsumexp(-1, keepdim=True)
        drawn = draw_tokens(log_q.exp(), torch.arange(len(live)), generator).tolist()
        grown = []
        for row, (i, token) in enumerate(zip(live, drawn)):
            if self.q.stop[token]:
                step_lp = stop_p[row]
                log_w[i] += step_lp - torch.logsumexp(log_q[row, self.stop_ids].double(), dim=-1)
                ended.append(i)
            else:
                step_lp = self.beta * float(log_p[row, token])
                log_w[i] += step_lp - float(log_q[row, token])
                tokens[i] = tokens[i] + [token]
                grown.append(i)
            log_base[i] += step_lp
        if grown:
            new_psi = self.twist.log_potential([tokens[i] for i in grown], self.q.max_new_tokens - len(tokens[grown[0]]))
            log_w[grown] += new_psi - psi[grown]
            psi[grown] = new_psi
        return ended

    def _rejuvenated(self, objective: Objective, tokens: list[list[int]], log_w: torch.Tensor,
                     generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor, torch.Tensor, float]:
        """Resample to equal weights, then MH under base + E from each particle."""
        picks = resample(log_w, self.resampling, generator)
        starts = [State(tuple(tokens[i])) for i in picks]
        seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
        sampler = MetropolisHastings(self.rejuvenate, steps=self.rejuvenate_steps, chains=self.particles, seed=seed)
        final: list[State] = []
        final_energies = []

        def keep_last(step, states, energies, info):
            final[:] = states
            final_energies[:] = energies.tolist()

        result = sampler.run(self.base_energy() + objective, init=starts, callback=keep_last, progress=False)
        return ([list(s.tokens) for s in final], torch.tensor(final_energies, dtype=torch.float64),
                torch.zeros(self.particles, dtype=torch.float64), result.acceptance_rate)


class _Support(Objective):
    """0 on SMC's support (1 to max_new_tokens ordinary tokens), +inf off it."""

    def __init__(self, smc: SMC):
        self.writable, self.limit, self.tokenizer = smc.writable, smc.q.max_new_tokens, smc.lm.tokenizer

    def energy(self, batch) -> torch.Tensor:
        ids = tokens_for(batch, self.tokenizer)
        return torch.tensor([0.0 if 1 <= len(t) <= self.limit and all(self.writable[x] for x in t) else math.inf
                             for t in ids], dtype=torch.float64)
