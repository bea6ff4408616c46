"""Constrained-writing tasks built on the library: one module per task, and batch mode for all."""
from .keywords import KeywordResult, KeywordsToSentence

__all__ = ["KeywordResult", "KeywordsToSentence"]
