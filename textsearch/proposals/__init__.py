"""Local moves for MCMC and whole-sequence distributions for rejection and importance sampling."""
from .base import Conditional, Move, Proposal, SequenceDistribution
from .candidates import Candidates, Slot
from .edit import EditProposal
from .exact_conditional import ExactConditional
from .lm_sampler import LMSampler
from .mixture import Cycle, Mixture
from .mlm_conditional import MLMConditional
from .swap import Swap
from .topk_conditional import TopKConditional
from .uniform_edit import UniformEdit
from .uniform_replace import UniformReplace
from .uniform_sequences import UniformSequences

__all__ = ["Conditional", "Move", "Proposal", "SequenceDistribution", "Swap",
           "ExactConditional", "Mixture", "Cycle", "UniformEdit", "UniformReplace", "UniformSequences",
           "Candidates", "Slot", "EditProposal", "LMSampler", "MLMConditional", "TopKConditional"]
