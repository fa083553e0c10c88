"""Physical units end to end: the simulator's 3-D spheres-in-tube phantom (``rotation``),
its true phase projections → FBP → δ = −f / (k·p/M), against xraydb's δ of POM."""

import math

import numpy as np
import pytest

from napari_specktrack import Geometry
from napari_specktrack.errors import GeometryError
from napari_specktrack.physics.materials import optical_constants
from napari_specktrack.simulate import simulate
from napari_specktrack.tomo import delta_per_phase, find_center, phase_to_delta, reconstruct

N = 64
ANGLES = 96


@pytest.fixture(scope="module")
def rotation():
    acq = simulate("rotation", N, frames=ANGLES, seed=3)
    assert acq.truth_phase.shape == (ANGLES, N, N)
    return acq


def sphere_cores(acq, shrink_px=2.0):
    """(mask over the (rows, N, N) volume, sphere) for each POM sphere, ``shrink_px`` inside
    its surface. A sphere at (y, x, z) lies in slice y at slice row c − z, column x."""
    c = acq.phantom["rotation_axis_x_px"]
    y, i, j = np.mgrid[0:N, 0:N, 0:N].astype(float)
    for obj in acq.phantom["objects"]:
        if obj["shape"] == "sphere" and obj["radius_px"] > 4:
            y0, x0 = obj["center_yx_px"]
            r2 = (y - y0) ** 2 + (i - (c - obj.get("center_z_px", 0.0))) ** 2 + (j - x0) ** 2
            yield r2 < (obj["radius_px"] - shrink_px) ** 2, obj


def test_delta_inside_pom_spheres_matches_xraydb(rotation):
    acq = rotation
    g = acq.geometry
    slices = reconstruct(acq.truth_phase, (0, 180), acq.phantom["rotation_axis_x_px"])
    delta = phase_to_delta(slices, g)
    truth = (optical_constants("POM", g.energy_keV).delta
             - optical_constants(acq.phantom["medium"], g.energy_keV).delta)
    cores = list(sphere_cores(acq))
    assert len(cores) >= 3
    for mask, obj in cores:
        assert mask.sum() > 50
        # measured: within 0.05 % of xraydb for every sphere
        assert abs(delta[mask].mean() / truth - 1) < 0.03, obj
    air = np.hypot(*(np.mgrid[0:N, 0:N] - (N - 1) / 2)) < 0.40 * N  # inside the tube's bore
    tube_free = delta[:, air]
    assert np.median(np.abs(tube_free)) < 0.05 * truth  # air and POM only: no offset


def test_auto_centre_on_the_phantom_projections(rotation):
    shift = 2.3
    f = np.fft.fftfreq(N)
    moved = np.fft.ifft(np.fft.fft(rotation.truth_phase, axis=-1) * np.exp(-2j * np.pi * f * shift),
                        axis=-1).real.astype(np.float32)
    fit = find_center(moved, (0, 180))
    assert abs(fit.center_px - (rotation.phantom["rotation_axis_x_px"] + shift)) < 0.5


def test_phase_to_delta_formula():
    g = Geometry()
    k, p_obj = 2 * math.pi / g.wavelength_m, g.pixel_size_m / g.magnification
    assert delta_per_phase(g) == pytest.approx(-1 / (k * p_obj), rel=1e-12)
    # 1 mm of POM (δ ≈ 1.2e-6 at 15 keV) is −k δ p rad per pixel of path
    d = optical_constants("POM", g.energy_keV).delta
    f = -k * d * p_obj
    assert phase_to_delta(f, g) == pytest.approx(d, rel=1e-12)
    arr = phase_to_delta(np.full((2, 3), f, dtype=np.float64), g)
    assert arr.dtype == np.float32 and np.allclose(arr, d, rtol=1e-6)
    with pytest.raises(GeometryError):
        phase_to_delta(f, {"energy_keV": 15})
