"""Monte Carlo samplers, one per module, sharing the run loop in `base`."""
from .base import MarkovSampler, Result, Sample
from .metropolis_hastings import MetropolisHastings, mh_step

__all__ = ["MarkovSampler", "MetropolisHastings", "Result", "Sample", "mh_step"]
