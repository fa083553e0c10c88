"""Speckle-tracking retrieval: displacement, phase, transmission and dark-field."""

from .integrate import INTEGRATION_METHODS
from .methods import Retrieval, conventional, double_exposure
from .tracking import suggest_parameters, track

__all__ = [
    "INTEGRATION_METHODS",
    "Retrieval",
    "conventional",
    "double_exposure",
    "suggest_parameters",
    "track",
]
