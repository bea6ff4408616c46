"""Self-normalised importance sampling: draw x ~ q, weight w ∝ p̃(x) / q(x).

Weights are handled in log space and normalised with logsumexp, so energies of any
size are safe. Kish's effective sample size 1/Σw² says how many equally weighted
samples the weighted set is worth; `result.resample(n)` turns it into an
unweighted one, `result.expectation(fn)` estimates E_p[fn], and
log Z ≈ logsumexp(log w) − log N.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..objectives.base import Objective
from .base import show_progress
from .independent import check_independent, draw, finish, lowest, start
from .records import DrawInfo, Sample, WeightedResult


class ImportanceSampler:
    """`num_samples` weighted draws from q for the target exp(−E).

    Parameters
    ----------
    q
        A `SequenceDistribution` (`LMSampler`, `UniformSequences`) with `sample(n, generator)`.
    num_samples
        Draws of q to weight.
    seed
        Seed of the run's random stream.
    batch_size
        Draws per batch (one objective call each).
    """

    def __init__(self, q, num_samples: int, seed: int = 0, batch_size: int = 1024):
        check_independent(q, num_samples, batch_size)
        self.q, self.num_samples, self.seed, self.batch_size = q, num_samples, seed, batch_size

    def run(self, objective: Objective, init=None, callback: Callable | None = None,
            progress: bool = True) -> WeightedResult:
        started = time.perf_counter()
        target = start(self.q, objective, self.seed, init)
        sequences, log_weights, energies, best, infos = [], [], [], None, []
        for first in tqdm(range(0, self.num_samples, self.batch_size), disable=not show_progress(progress),
                          desc="ImportanceSampler"):
            batch, log_q, log_p = draw(self.q, min(self.batch_size, self.num_samples - first), target)
            sequences += batch
            log_weights.append(log_p - log_q)
            energies.append(-log_p)
            best = lowest(best, batch, -log_p, first)
            info = DrawInfo(target.step, len(batch), int(torch.isfinite(log_p).sum()))
            infos.append(info)
            if callback is not None:
                callback(target.step, batch, -log_p, info)
            target.step += 1
        log_w = torch.cat(log_weights)
        if torch.isneginf(log_w).all():
            raise ValueError(f"all {len(log_w)} draws from q are forbidden (infinite energy): no weight to normalise; "
                             "draw more, or use a q that puts mass on allowed sequences")
        log_total = torch.logsumexp(log_w, dim=0)
        normalised = log_w - log_total
        samples = [Sample(tokens, None, energy, weight=weight, step=i) for i, (tokens, energy, weight)
                   in enumerate(zip(sequences, torch.cat(energies).tolist(), normalised.exp().tolist()))]
        return finish(WeightedResult, samples, best, target, started, acceptance_rate=float(torch.isfinite(log_w).double().mean()),
                      info=infos, log_weights=normalised, log_normalizer=log_total.item() - math.log(len(log_w)))
