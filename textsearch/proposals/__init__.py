"""Local moves for MCMC and whole-sequence distributions for rejection and importance sampling."""
from .base import Conditional, Move, Proposal, SequenceDistribution
from .exact_conditional import ExactConditional
from .mixture import Cycle, Mixture
from .swap import Swap
from .uniform_edit import UniformEdit
from .uniform_replace import UniformReplace
from .uniform_sequences import UniformSequences

__all__ = ["Conditional", "Move", "Proposal", "SequenceDistribution", "Swap",
           "ExactConditional", "Mixture", "Cycle", "UniformEdit", "UniformReplace", "UniformSequences"]
