"""Local moves for MCMC and whole-sequence distributions for rejection and importance sampling."""
from .base import Conditional, Move, Proposal, SequenceDistribution
from .candidates import TOP_K, Candidates, Slot
from .conditionals import ExactConditional, MLMConditional, TopKConditional
from .edit import EditProposal
from .lm_sampler import LMSampler
from .mixture import Cycle, Mixture
from .swap import Swap
from .uniform import UniformEdit, UniformReplace, UniformSequences

__all__ = ["TOP_K", "Candidates", "Conditional", "Cycle", "EditProposal", "ExactConditional", "LMSampler",
           "MLMConditional", "Mixture", "Move", "Proposal", "SequenceDistribution", "Slot", "Swap",
           "TopKConditional", "UniformEdit", "UniformReplace", "UniformSequences"]
