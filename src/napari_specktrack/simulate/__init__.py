"""Physics simulator: speckle-tracking acquisitions of phantoms with exact, recomputable truth."""

from .imaging import PHANTOMS, Acquisition, SimulationConfig, simulate

__all__ = ["PHANTOMS", "Acquisition", "SimulationConfig", "simulate"]
