"""Physical units of reconstructed slices.

A phase projection φ(u) = −k ∫ δ dz (radians; z in metres) reconstructs by FBP to
f = −k δ p_obj per voxel, in radians per detector pixel of path: FBP inverts the line
integral with the path measured in pixels, and one detector pixel is p_obj = p / M in the
sample (the layers' scale). Hence, per voxel,

    δ = −f / (k · p/M)

with k = ``Geometry.wavenumber_per_m`` (rad/m) and p/M = ``Geometry.object_pixel_size_m``
(metres). δ is the refractive-index decrement relative to the medium around the sample (the
phase is zero in the empty beam), dimensionless and positive in matter.
"""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError
from ..geometry import Geometry

#: the quantities a reconstruction can be written in
QUANTITIES = ("phase", "delta")


def delta_per_phase(geometry: Geometry) -> float:
    """The factor −1 / (k · p/M) that turns FBP radians per detector pixel into δ."""
    if not isinstance(geometry, Geometry):
        raise GeometryError("geometry must be a napari_specktrack.Geometry (e.g. from "
                            "Geometry.from_json('geometry.json'))")
    return -1.0 / (geometry.wavenumber_per_m * geometry.object_pixel_size_m)


def phase_to_delta(slices_rad_per_px, geometry: Geometry):
    """δ = −f / (k · p/M) per voxel from FBP slices f of phase projections.

    ``slices_rad_per_px``: FBP result in radians per detector pixel (array or number);
    returns δ (dimensionless, float32 for arrays): k = ``geometry.wavenumber_per_m`` in rad/m,
    p/M = ``geometry.object_pixel_size_m`` in metres.
    """
    factor = delta_per_phase(geometry)
    if np.isscalar(slices_rad_per_px):
        return float(slices_rad_per_px) * factor
    return (np.asarray(slices_rad_per_px, dtype=np.float32) * np.float32(factor)).astype(np.float32)
