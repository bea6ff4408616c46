"""Resampling for sequential Monte Carlo: which particles survive, in proportion to their weights.

Both schemes are unbiased (each particle is expected to be copied N·w_i times), so the
normaliser estimate stays unbiased; systematic resampling draws one uniform for all N
and so adds less noise than N independent draws (multinomial).
"""
from __future__ import annotations

import torch

SCHEMES = ("multinomial", "systematic")


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """Kish's 1 / Σ w² of the normalised weights (0 when every weight is zero)."""
    if torch.isneginf(log_weights).all():
        return 0.0
    normalised = log_weights - torch.logsumexp(log_weights, dim=0)
    return float(1.0 / torch.exp(2 * normalised).sum())


def resample(log_weights: torch.Tensor, scheme: str, generator: torch.Generator) -> list[int]:
    """N ancestor indices drawn in proportion to exp(log_weights) [N]."""
    n = len(log_weights)
    probs = torch.softmax(log_weights.double(), dim=0)
    if scheme == "multinomial":
        return torch.multinomial(probs, n, replacement=True, generator=generator).tolist()
    if scheme == "systematic":
        points = (torch.rand((), generator=generator, dtype=torch.float64) + torch.arange(n, dtype=torch.float64)) / n
        cumulative = torch.cumsum(probs, dim=0)
        cumulative[-1] = 1.0                        # rounding must not leave the last point past the end
        return torch.searchsorted(cumulative, points, right=True).clamp(max=n - 1).tolist()
    raise ValueError(f"resampling must be one of {SCHEMES}, got {scheme!r}")
