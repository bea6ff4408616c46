"""Monte Carlo samplers, one per module, sharing the run loop in `base` and the records in `records`."""
from .base import MarkovSampler
from .gibbs import Gibbs
from .importance import ImportanceSampler
from .kernel import mh_accept, mh_step
from .metropolis_hastings import MetropolisHastings
from .parallel_tempering import ParallelTempering
from .records import (DrawInfo, IndependentResult, MarkovResult, Result, Sample, SMCInfo, StepInfo,
                      WeightedResult)
from .rejection import RejectionSampler
from .simulated_annealing import SimulatedAnnealing
from .smc import SMC
from .twists import KeywordTwist, Twist

__all__ = ["DrawInfo", "Gibbs", "ImportanceSampler", "IndependentResult", "MarkovResult", "MarkovSampler",
           "MetropolisHastings", "ParallelTempering", "RejectionSampler", "Result", "SMCInfo", "Sample",
           "SMC", "SimulatedAnnealing", "StepInfo", "KeywordTwist", "Twist", "WeightedResult", "mh_accept", "mh_step"]
