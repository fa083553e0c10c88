"""Geometry: derived quantities against physics.md, JSON round trip, validation."""

import json
import math

import pytest

from napari_specktrack import Geometry
from napari_specktrack.errors import FileFormatError, GeometryError


def test_defaults_are_the_paper_beamline():
    g = Geometry()
    assert g.energy_keV == 15.0
    assert g.pixel_size_m == pytest.approx(3.25e-6)
    assert g.distance_m == 0.6
    assert g.source_distance_m == 34.0
    # physics.md: λ = 0.8266 Å, k = 7.601e10 /m; physics-notes §1: M = 1.01765
    assert g.wavelength_m == pytest.approx(8.2656e-11, rel=1e-4)
    assert g.wavenumber_per_m == pytest.approx(7.6016e10, rel=1e-4)
    assert g.magnification == pytest.approx(1.01765, rel=1e-5)
    assert g.object_pixel_size_m == pytest.approx(3.194e-6, rel=1e-3)
    assert g.fresnel_number == pytest.approx(0.213, rel=0.02)


def test_phase_gradient_per_shift_matches_refraction_geometry():
    g = Geometry()
    # one pixel of displacement u at the detector is a refraction angle α = u p / z; in the
    # object plane (pixel p/M, distance z/M): ∂φ/∂x_px = k α p_obj ... = k p² / (z M)
    expected = g.wavenumber_per_m * g.pixel_size_m**2 / (g.distance_m * g.magnification)
    assert g.phase_gradient_per_shift == pytest.approx(expected, rel=1e-12)
    assert g.phase_gradient_per_shift == pytest.approx(1.3150, rel=1e-3)  # ≈ 1.34 / M


def test_source_blur():
    g = Geometry()
    fwhm_px = 1e-4 * 0.6 / 34 / 3.25e-6  # s z / R1 in pixels ≈ 0.54
    assert g.source_blur_sigma_px == pytest.approx(fwhm_px / 2.3548, rel=1e-3)


def test_json_round_trip(tmp_path):
    g = Geometry(energy_keV=20.0, pixel_size_m=1.625e-6, distance_m=0.3)
    path = tmp_path / "geometry.json"
    g.to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == {"energy_keV", "pixel_size_m", "distance_m", "source_distance_m", "source_size_m"}
    assert Geometry.from_json(path) == g
    assert Geometry.from_json(g.to_json()) == g


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"energy_keV": -1.0}, "positive"),
        ({"distance_m": 0.0}, "positive"),
        ({"pixel_size_m": float("nan")}, "finite"),
        ({"source_distance_m": float("inf")}, "finite"),
        ({"energy_keV": "15"}, "number"),
        ({"energy_keV": 15000.0}, "keV"),
        ({"pixel_size_m": 3.25}, "metres"),
    ],
)
def test_invalid_geometry_names_the_field_and_fix(kwargs, fragment):
    with pytest.raises(GeometryError, match=fragment) as info:
        Geometry(**kwargs)
    assert next(iter(kwargs)) in str(info.value)


def test_missing_and_unknown_keys(tmp_path):
    with pytest.raises(GeometryError, match="missing"):
        Geometry.from_dict({"energy_keV": 15.0})
    with pytest.raises(GeometryError, match="unknown"):
        Geometry.from_dict({**Geometry().to_dict(), "energy_eV": 15000})
    with pytest.raises(FileFormatError, match="does not exist"):
        Geometry.from_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        Geometry.from_json(bad)


def test_geometry_is_immutable():
    g = Geometry()
    with pytest.raises(AttributeError):
        g.energy_keV = 20.0  # type: ignore[misc]
    assert math.isclose(g.energy_keV, 15.0)
