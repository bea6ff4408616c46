"""Energy terms: lower is better; compose with + and scalar *."""
from .base import Batch, FromFunction, Objective, Scaled, Sum
from .fluency import Fluency
from .keywords import Keywords
from .length import LengthPrior
from .mlm_energy import MLMEnergy
from .repetition import RepetitionPenalty
from .sentence_form import OneSentence, SentenceForm
from .similarity import Similarity
from .text import tokens_for

__all__ = ["Batch", "FromFunction", "Objective", "Scaled", "Sum",
           "Fluency", "Keywords", "LengthPrior", "MLMEnergy", "OneSentence", "RepetitionPenalty", "SentenceForm",
           "Similarity", "tokens_for"]
