"""CT slice reconstruction: parallel-beam filtered back-projection of projection stacks.

Conventions (stack layout, angles, centre, slice orientation, units) are stated once, in
:mod:`napari_specktrack.tomo.fbp`. torch is imported only when something is computed.
"""

from .center import CenterFit, center_from_mirror, check_center, find_center, refine_center
from .checks import MIN_ANGLES, projection_angles_deg
from .fbp import FBPSetup, iter_slabs, reconstruct, reconstruct_slice, setup
from .filters import DEFAULT_FILTER, FILTERS
from .preview import RowPreview
from .units import QUANTITIES, delta_per_phase, phase_to_delta

__all__ = [
    "DEFAULT_FILTER",
    "FILTERS",
    "MIN_ANGLES",
    "QUANTITIES",
    "CenterFit",
    "FBPSetup",
    "RowPreview",
    "center_from_mirror",
    "check_center",
    "delta_per_phase",
    "find_center",
    "iter_slabs",
    "phase_to_delta",
    "projection_angles_deg",
    "reconstruct",
    "reconstruct_slice",
    "refine_center",
    "setup",
]
