"""Energy terms: lower is better; compose with + and scalar *."""
from .base import Batch, FromFunction, Objective, Scaled, Sum
from .copy_penalty import CopyPenalty
from .edit_distance import EditDistance
from .fluency import Fluency
from .keywords import Keywords
from .length import LengthPrior
from .mlm_energy import MLMEnergy
from .repetition import RepetitionPenalty
from .sentence_form import OneSentence, SentenceForm
from .similarity import Similarity
from .template import Template
from .text import tokens_for

__all__ = ["Batch", "FromFunction", "Objective", "Scaled", "Sum",
           "CopyPenalty", "EditDistance", "Fluency", "Keywords", "LengthPrior", "MLMEnergy", "OneSentence", "RepetitionPenalty", "SentenceForm",
           "Similarity", "Template", "tokens_for"]
