"""Refractive indices from xraydb against the values in physics.md."""

import math

import pytest

from napari_specktrack.errors import MaterialError
from napari_specktrack.physics.materials import PRESETS, delta_beta, optical_constants


@pytest.mark.parametrize(
    "name, delta, beta_total",
    [
        ("POM", 1.3877e-6, 1.230e-9),
        ("PE", 1.0001e-6, 4.658e-10),
        ("SiC", 2.9699e-6, 1.580e-8),
        ("Al2O3", 3.5884e-6, 1.318e-8),
        ("water", 1.0255e-6, 1.100e-9),
        ("polyurethane", 1.18e-6, None),
    ],
)
def test_delta_beta_at_15keV(name, delta, beta_total):
    c = optical_constants(name, 15.0)
    assert c.delta == pytest.approx(delta, rel=5e-3)
    if beta_total is not None:
        assert c.beta_total == pytest.approx(beta_total, rel=5e-3)
    # total attenuation exceeds photo-absorption (scattering adds)
    assert c.beta_total > c.beta_photo > 0


def test_pom_issue_figure():
    delta, _ = delta_beta("POM", 15.0)
    assert delta == pytest.approx(1.39e-6, rel=0.01)


def test_pom_phase_and_transmission_of_1mm():
    c = optical_constants("POM", 15.0)
    # physics.md: phase of 1 mm POM ≈ −105 rad; physics-notes §4.2: T(1 mm chord) = 0.829
    assert c.phase_per_m(15.0) * 1e-3 == pytest.approx(-105.5, rel=2e-3)
    assert math.exp(-c.mu_total_per_m * 1e-3) == pytest.approx(0.829, abs=0.002)


def test_presets_and_formula_spec():
    for name in ("POM", "PE", "PMMA", "polyurethane", "SiC", "Al2O3", "air", "water"):
        assert name in PRESETS
    a = optical_constants({"formula": "CH2O", "density_g_cm3": 1.41}, 15.0)
    assert a == optical_constants("POM", 15.0)
    assert optical_constants("pom", 15.0) == a  # case-insensitive preset names
    assert optical_constants("air", 15.0).delta < 1e-8


def test_delta_scales_as_inverse_energy_squared():
    d15 = optical_constants("PE", 15.0).delta
    d30 = optical_constants("PE", 30.0).delta
    assert d15 / d30 == pytest.approx(4.0, rel=0.01)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("unobtainium", "unknown material"),
        ({"formula": "CH2O"}, "density_g_cm3"),
        ({"formula": "not a formula", "density_g_cm3": 1.0}, "chemical formula"),
        ({"formula": "CH2O", "density_g_cm3": -1.0}, "positive"),
        (42, "cannot interpret"),
    ],
)
def test_bad_materials(spec, fragment):
    with pytest.raises(MaterialError, match=fragment):
        optical_constants(spec, 15.0)
