"""napari sample data: simulated speckle acquisitions with their truth, in physical units.

Each sample opens the reference, sample and in-line images and the truth (phase in rad,
transmission, displacement in px) as Image layers whose ``scale`` is the object-plane pixel
in µm and whose metadata carries the geometry and the simulation's provenance. The data are
simulated on the fly with a fixed seed (about a second), so they are identical every time.
"""

from __future__ import annotations

from typing import Any

SAMPLE_SIZE_PX = 384
SAMPLE_SEED = 2023


def _layers(phantom: str) -> list[tuple[Any, dict, str]]:
    from .simulate import simulate

    acq = simulate(phantom, SAMPLE_SIZE_PX, seed=SAMPLE_SEED)
    meta = {
        "geometry": acq.geometry.to_dict(),
        "provenance": acq.provenance(),
        "phantom": acq.phantom,
    }
    scale = acq.geometry.layer_scale_um
    common = {"scale": scale, "metadata": meta, "units": ("um", "um")}
    return [
        (acq.truth_phase, {**common, "name": "truth phase", "colormap": "magma", "visible": False,
                           "metadata": {**meta, "unit": "rad"}}, "image"),
        (acq.truth_dx, {**common, "name": "truth dx", "colormap": "twilight_shifted",
                        "visible": False, "metadata": {**meta, "unit": "px"}}, "image"),
        (acq.truth_transmission, {**common, "name": "truth transmission", "visible": False}, "image"),
        (acq.inline, {**common, "name": "in-line", "visible": False}, "image"),
        (acq.reference, {**common, "name": "reference", "visible": False}, "image"),
        (acq.sample, {**common, "name": "sample"}, "image"),
    ]


def sample_spheres() -> list[tuple[Any, dict, str]]:
    """POM spheres in a PE tube at 15 keV (the paper's calibration phantom), simulated."""
    return _layers("spheres")


def sample_foam() -> list[tuple[Any, dict, str]]:
    """A polyurethane foam (many sharp polymer–air interfaces), simulated."""
    return _layers("foam")
