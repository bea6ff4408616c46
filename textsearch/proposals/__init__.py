"""Local moves for MCMC and whole-sequence distributions for rejection and importance sampling."""
from .base import Conditional, Move, Proposal, SequenceDistribution
from .swap import Swap

__all__ = ["Conditional", "Move", "Proposal", "SequenceDistribution", "Swap"]
