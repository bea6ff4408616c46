"""textsearch: generate text by searching for it.

Write down what a good sentence is as an energy over token sequences, then sample
from or minimise it with Monte Carlo samplers.
"""
from . import diagnostics, lm, objectives, proposals, samplers, schedules, tasks, testing
from .lm import load_lm, load_mlm
from .state import State

__all__ = ["State", "diagnostics", "lm", "load_lm", "load_mlm", "objectives", "proposals", "samplers",
           "schedules", "tasks", "testing"]
__version__ = "0.1.0"
