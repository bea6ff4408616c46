"""textsearch: generate text by searching for it.

Write down what a good sentence is as an energy over token sequences, then sample
from or minimise it with Monte Carlo samplers.
"""
from . import diagnostics, models, objectives, proposals, samplers, schedules
from .models import load_lm, load_mlm
from .sequences import State

__all__ = ["State", "load_lm", "load_mlm", "models", "objectives", "proposals", "samplers",
           "diagnostics", "schedules"]
__version__ = "0.1.0"
