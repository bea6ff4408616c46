"""Constrained-writing tasks built on the library: one module per task, and batch mode for all."""
from .correct import Correct
from .infill import Infill
from .keywords import KeywordResult, KeywordsToSentence
from .paraphrase import Paraphrase
from .sentences import SentenceResult

__all__ = ["Correct", "Infill", "KeywordResult", "KeywordsToSentence", "Paraphrase", "SentenceResult"]
