"""Temperature schedules for simulated annealing: (step, total_steps) -> temperature.

Temperature 0 means hill climbing: the MH step then takes exactly the moves that do
not raise the energy (ties included), so a schedule may end at 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def _check(name: str, value: float, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


class Schedule:
    """Base class: `schedule(step, total_steps)` is the temperature at 0-based `step`."""

    def __call__(self, step: int, total_steps: int) -> float:
        raise NotImplementedError


def _progress(step: int, total_steps: int) -> float:
    """step / (total_steps − 1): 0 at the first step, 1 at the last."""
    return step / (total_steps - 1) if total_steps > 1 else 0.0


@dataclass(frozen=True)
class Constant(Schedule):
    """T stays at `temperature`; Constant(0) is hill climbing.

    Parameters
    ----------
    temperature
        T at every step (>= 0).
    """
    temperature: float

    def __post_init__(self):
        _check("temperature", self.temperature, allow_zero=True)

    def __call__(self, step: int, total_steps: int) -> float:
        return float(self.temperature)


@dataclass(frozen=True)
class Linear(Schedule):
    """T falls in a straight line from `start` at the first step to `end` (may be 0) at the last.

    Parameters
    ----------
    start, end
        T at the first and at the last step (start > 0, 0 <= end <= start).
    """
    start: float
    end: float = 0.0

    def __post_init__(self):
        _check("start", self.start)
        _check("end", self.end, allow_zero=True)
        if self.end > self.start:
            raise ValueError(f"a cooling schedule needs end <= start, got start={self.start}, end={self.end}")

    def __call__(self, step: int, total_steps: int) -> float:
        return self.start + (self.end - self.start) * _progress(step, total_steps)


@dataclass(frozen=True)
class Exponential(Schedule):
    """Geometric cooling from `start` to `end` (> 0): T = start · (end/start)^(step/(steps−1)).

    Parameters
    ----------
    start, end
        T at the first and at the last step (0 < end <= start).
    """
    start: float
    end: float

    def __post_init__(self):
        _check("start", self.start)
        _check("end", self.end)
        if self.end > self.start:
            raise ValueError(f"a cooling schedule needs end <= start, got start={self.start}, end={self.end}")

    def __call__(self, step: int, total_steps: int) -> float:
        return self.start * (self.end / self.start) ** _progress(step, total_steps)


@dataclass(frozen=True)
class Logarithmic(Schedule):
    """The classic slow schedule T = start · log 2 / log(step + 2), which starts at `start`.

    Parameters
    ----------
    start
        T at the first step (> 0); it then falls as 1 / log(step + 2), whatever the number of steps.
    """
    start: float

    def __post_init__(self):
        _check("start", self.start)

    def __call__(self, step: int, total_steps: int) -> float:
        return self.start * math.log(2) / math.log(step + 2)
