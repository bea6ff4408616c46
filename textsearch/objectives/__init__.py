"""Energy terms: lower is better; compose with + and scalar *."""
from .base import Batch, FromFunction, Objective, Scaled, Sum

__all__ = ["Batch", "FromFunction", "Objective", "Scaled", "Sum"]
