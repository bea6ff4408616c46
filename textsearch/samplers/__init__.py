"""Monte Carlo samplers, one per module, sharing the run loop in `base`."""
from .base import MarkovSampler, Result, Sample
from .gibbs import Gibbs
from .importance import ImportanceSampler
from .metropolis_hastings import MetropolisHastings, mh_accept, mh_step
from .parallel_tempering import ParallelTempering
from .rejection import RejectionSampler
from .simulated_annealing import SimulatedAnnealing

__all__ = ["MarkovSampler", "MetropolisHastings", "Result", "Sample", "mh_step", "mh_accept", "Gibbs",
           "ImportanceSampler", "ParallelTempering", "RejectionSampler", "SimulatedAnnealing"]
