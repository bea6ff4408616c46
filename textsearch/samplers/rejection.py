"""Rejection sampling: draw x ~ q, keep it with probability p̃(x) / (M q(x)).

With p̃ = exp(−E) and a bound M ≥ p̃/q everywhere, the kept draws are independent
samples of p = p̃/Z, and a draw is kept with probability Z/M — so the acceptance
rate also estimates the normaliser: log Z ≈ log(rate) + log M. A draw whose ratio
exceeds the bound proves the bound wrong; the sampler stops with an error rather
than return samples of the wrong distribution.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..objectives.base import Objective
from .base import show_progress
from .independent import check_independent, draw, finish, lowest, start
from .records import DrawInfo, IndependentResult, Sample

ROUNDING = 1e-9     # a ratio above the bound by less than this is floating-point noise of an exact bound


class RejectionSampler:
    """Independent samples of exp(−E) from draws of q, with log M = `log_bound`.

    Parameters
    ----------
    q
        A `SequenceDistribution` (`LMSampler`, `UniformSequences`) with `sample(n, generator)`.
    log_bound
        log M with exp(−E(x)) ≤ M · q(x) for every x: a draw is kept with probability exp(−E) / (M q).
    num_samples
        Accepted samples wanted.
    seed
        Seed of the run's random stream.
    batch_size
        Draws of q per batch (one objective call each).
    max_draws
        Stop after this many draws, with a warning, if fewer samples were accepted (None: 1000 per sample).
    """

    def __init__(self, q, log_bound: float, num_samples: int, seed: int = 0, batch_size: int = 1024,
                 max_draws: int | None = None):
        check_independent(q, num_samples, batch_size)
        if not isinstance(log_bound, (int, float)) or not math.isfinite(log_bound):
            raise ValueError(f"log_bound must be a finite number (log M with M >= exp(-E(x)) / q(x)), got {log_bound!r}")
        max_draws = 1000 * num_samples if max_draws is None else max_draws
        if not isinstance(max_draws, int) or max_draws < 1:
            raise ValueError(f"max_draws must be an integer >= 1, got {max_draws!r}")
        self.q, self.log_bound, self.num_samples, self.seed = q, float(log_bound), num_samples, seed
        self.batch_size, self.max_draws = batch_size, max_draws

    def run(self, objective: Objective, init=None, callback: Callable | None = None,
            progress: bool = True) -> IndependentResult:
        started = time.perf_counter()
        target = start(self.q, objective, self.seed, init)
        samples: list[Sample] = []
        best, draws, infos = None, 0, []
        bar = tqdm(total=self.num_samples, disable=not show_progress(progress), desc="RejectionSampler")
        while len(samples) < self.num_samples and draws < self.max_draws:
            sequences, log_q, log_p = draw(self.q, min(self.batch_size, self.max_draws - draws), target)
            log_ratio = log_p - log_q - self.log_bound
            worst = int(torch.argmax(log_ratio))
            if log_ratio[worst] > ROUNDING:
                raise ValueError(f"the bound is wrong: a draw has log p̃(x)/q(x) = {(log_p - log_q)[worst].item():.6g} "
                                 f"> log_bound = {self.log_bound:.6g}; use log_bound >= the largest log p̃(x) - log q(x)")
            u = torch.rand(len(sequences), generator=target.generator, dtype=torch.float64)
            kept = torch.nonzero(torch.log(u) < log_ratio).view(-1).tolist()[: self.num_samples - len(samples)]
            used = kept[-1] + 1 if len(samples) + len(kept) == self.num_samples else len(sequences)
            samples.extend(Sample(sequences[i], None, -log_p[i].item(), step=draws + i) for i in kept)
            best = lowest(best, sequences, -log_p, draws)
            info = DrawInfo(target.step, used, len(kept))
            infos.append(info)
            draws += used
            bar.update(len(kept))
            if callback is not None:
                callback(target.step, sequences, -log_p, info)
            target.step += 1
        bar.close()
        rate = len(samples) / draws
        if len(samples) < self.num_samples:
            warnings.warn(f"RejectionSampler used all max_draws={self.max_draws} draws and accepted {len(samples)} of "
                          f"{self.num_samples} samples (acceptance {rate:.3g}): raise max_draws, or lower log_bound "
                          "if it is looser than it needs to be", RuntimeWarning, stacklevel=2)
        return finish(IndependentResult, samples, best, target, started, acceptance_rate=rate, info=infos,
                      log_normalizer=math.log(rate) + self.log_bound if rate > 0 else -math.inf)
