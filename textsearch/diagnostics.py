"""Convergence diagnostics for a scalar of the chains' states (the energy by default).

Both take values shaped [steps, chains] and follow Stan / BDA3: chains are split in
halves, so a chain that drifts looks like two chains that disagree.

- `effective_sample_size`: draws / τ, with τ = 1 + 2 Σ ρ_t from the multi-chain
  autocorrelation and Geyer's initial monotone sequence to truncate the sum.
- `split_rhat`: √(var⁺ / W); near 1 when the chains agree, > 1.1 when they do not.

A non-finite value (a forbidden state's energy) or a constant trace gives nan.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _split_chains(values) -> np.ndarray:
    x = values.detach().cpu().double().numpy() if torch.is_tensor(values) else np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"values must be shaped [steps, chains], got shape {x.shape}")
    half = x.shape[0] // 2
    if half < 2:
        raise ValueError(f"need at least 4 steps per chain to split chains in halves, got {x.shape[0]}")
    return np.concatenate([x[:half], x[-half:]], axis=1)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each column at every lag [n, m] (biased, divided by n), via FFT."""
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    size = 2 ** math.ceil(math.log2(2 * n))
    spectrum = np.fft.rfft(centred, n=size, axis=0)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:n] / n


def effective_sample_size(values) -> float:
    """Multi-chain effective sample size of values [steps, chains] (Stan's estimator on split chains)."""
    x = _split_chains(values)
    n, m = x.shape
    if not np.isfinite(x).all():
        return math.nan
    acov = _autocovariance(x)
    chain_var = acov[0] * n / (n - 1)
    within = chain_var.mean()
    var_plus = within * (n - 1) / n + x.mean(axis=0).var(ddof=1)
    if var_plus <= 0:
        return math.nan
    rho = 1.0 - (within - acov.mean(axis=1)) / var_plus
    rho[0] = 1.0
    # Geyer: sum pairs (ρ_2k + ρ_2k+1) while positive, forced monotone non-increasing.
    pair_sums, previous = [], math.inf
    for t in range(0, n - 1, 2):
        pair = rho[t] + rho[t + 1]
        if pair <= 0:
            break
        previous = min(previous, pair)
        pair_sums.append(previous)
    tau = -1.0 + 2.0 * sum(pair_sums)
    return float(n * m / max(tau, 1.0 / math.log10(n * m)))


def split_rhat(values) -> float:
    """Split R-hat of values [steps, chains]: √(var⁺/W), 1 when all half-chains agree."""
    x = _split_chains(values)
    n = x.shape[0]
    if not np.isfinite(x).all():
        return math.nan
    within = x.var(axis=0, ddof=1).mean()
    if within <= 0:
        return math.nan
    var_plus = within * (n - 1) / n + x.mean(axis=0).var(ddof=1)
    return float(math.sqrt(var_plus / within))
