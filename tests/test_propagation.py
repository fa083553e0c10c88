"""Angular-spectrum propagation against analytic cases, and energy conservation."""

import math

import numpy as np
import pytest

from napari_specktrack.physics.propagation import (
    bin_image,
    check_sampling,
    max_phase_step,
    propagate,
)

WL = 8.2656e-11  # 15 keV
DX = 0.8e-6


def test_energy_is_conserved():
    rng = np.random.default_rng(0)
    wave = np.exp(1j * rng.normal(0, 2, (256, 256)) - rng.uniform(0, 0.1, (256, 256)))
    out = propagate(wave.astype(np.complex64), 0.6, DX, WL)
    assert np.sum(np.abs(out) ** 2) == pytest.approx(np.sum(np.abs(wave) ** 2), rel=1e-5)


def test_weak_phase_grating_contrast_transfer():
    """φ = φ0 cos(2π f x)  →  I ≈ 1 + 2 φ0 sin(π λ z f²) cos(2π f x) (weak-phase CTF)."""
    n, phi0, z = 512, 1e-3, 0.6
    x = np.arange(n) * DX
    period_px = 16
    f = 1.0 / (period_px * DX)
    wave = np.exp(1j * phi0 * np.cos(2 * math.pi * f * x))[None, :].repeat(4, axis=0)
    intensity = np.abs(propagate(wave, z, DX, WL)) ** 2
    expected = 1 + 2 * phi0 * math.sin(math.pi * WL * z * f * f) * np.cos(2 * math.pi * f * x)
    assert np.max(np.abs(intensity[0] - expected)) < 5 * phi0**2


def test_gaussian_beam_matches_paraxial_solution():
    """A Gaussian waist w0 spreads as w(z) = w0 √(1 + (z/zR)²), zR = π w0² / λ."""
    n, w0 = 512, 5 * DX
    c = np.arange(n) - n / 2
    r2 = (c[:, None] ** 2 + c[None, :] ** 2) * DX**2
    wave = np.exp(-r2 / w0**2)
    z_r = math.pi * w0**2 / WL
    z = 2.0 * z_r
    out = np.abs(propagate(wave, z, DX, WL, method="exact")) ** 2
    w_z = w0 * math.sqrt(1 + (z / z_r) ** 2)
    expected = (w0 / w_z) ** 2 * np.exp(-2 * r2 / w_z**2)
    assert np.max(np.abs(out - expected)) < 1e-4


def test_fresnel_and_exact_propagators_agree():
    rng = np.random.default_rng(1)
    wave = np.exp(1j * rng.normal(0, 1, (128, 128)))
    a = propagate(wave, 0.6, DX, WL, method="fresnel")
    b = propagate(wave, 0.6, DX, WL, method="exact")
    assert np.max(np.abs(a - b)) < 1e-6


def test_prism_displaces_by_refraction_angle():
    """A linear phase ramp (a prism) deflects by α = (∂φ/∂x)/k: a feature moves by z α."""
    n, z = 1024, 0.6
    k = 2 * math.pi / WL
    shift_m = 10 * DX
    alpha = shift_m / z
    x = (np.arange(n) - n / 2) * DX
    amp = np.exp(-(x / (8 * DX)) ** 2 / 2)  # a soft absorbing-free bump in amplitude
    wave = (1 + 0.5 * amp) * np.exp(1j * k * alpha * x)
    inten = np.abs(propagate(wave[None, :].repeat(4, axis=0), z, DX, WL))[0] ** 2
    # centroid of the bump in a window around its peak (the ramp's wrap-around at the grid
    # border makes ripples far away)
    peak = int(np.argmax(inten))
    win = slice(peak - 40, peak + 41)
    w = inten[win] - np.median(inten)
    centroid = np.sum(x[win] * w) / np.sum(w)
    assert centroid == pytest.approx(shift_m, abs=0.05 * DX)
    assert shift_m > 0  # +x ramp (∂φ/∂x > 0) deflects towards +x


def test_sampling_figures():
    info = check_sampling(3.25e-6 / 1.01765, WL, 0.6 / 1.01765, 2048)
    assert info["fresnel_number"] == pytest.approx(0.213 / 1.01765, rel=0.01)  # object plane
    assert info["max_spread_fraction_of_grid"] < 0.01
    assert max_phase_step(np.array([[0.0, 1.0, 5.0]])) == pytest.approx(4.0)


def test_bin_image_averages_blocks():
    a = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(bin_image(a, 2), [[2.5, 4.5], [10.5, 12.5]])
