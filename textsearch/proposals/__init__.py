"""Local moves for MCMC and whole-sequence distributions for rejection and importance sampling."""
from .base import Move, Proposal, SequenceDistribution

__all__ = ["Move", "Proposal", "SequenceDistribution"]
