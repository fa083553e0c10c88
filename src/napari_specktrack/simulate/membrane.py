"""The sandpaper membrane that makes the speckle.

Sandpaper is modelled as randomly placed, overlapping spherical grains (SiC by default) of
diameter 8.6 ± 1.5 µm (FEPA P2500), Poisson-distributed over the area with a mean coverage of
``layers`` grain cross-sections per unit area; the projected thickness is the sum of the grain
chords (overlaps add, as stacked grains do). The paper/resin backing is a uniform weak
attenuation that divides out in the flat field and is omitted.

For speed the grains are rasterised by convolution: grains are grouped into a few diameter
classes, the centres of each class are counted on the grid (``bincount``) and convolved in
Fourier space with that class's chord profile. Grain centres are quantised to the grid
spacing (≈ 0.8 µm on the simulator's fine grid, a tenth of a grain).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from ..errors import InputError


def sandpaper_thickness(
    shape: tuple[int, int],
    grid_spacing_m: float,
    rng: np.random.Generator,
    *,
    grain_diameter_m: float = 8.6e-6,
    grain_diameter_sd_m: float = 1.5e-6,
    layers: float = 1.5,
    n_classes: int = 4,
) -> np.ndarray:
    """Projected grain thickness (metres, float32) of a random sandpaper on a periodic grid.

    Parameters
    ----------
    shape
        Grid shape (y, x) in samples.
    grid_spacing_m
        Sample spacing in metres.
    rng
        Random generator (the seed makes the membrane reproducible).
    grain_diameter_m, grain_diameter_sd_m
        Mean and standard deviation of the grain diameter in metres.
    layers
        Mean number of grain cross-sections covering a point (areal coverage).
    n_classes
        Number of diameter classes used for the convolution rasterisation.
    """
    ny, nx = shape
    if grain_diameter_m <= 2 * grid_spacing_m:
        raise InputError(
            f"grain diameter {grain_diameter_m:.3g} m is under two grid samples "
            f"({grid_spacing_m:.3g} m): raise the simulator's oversampling"
        )
    if layers <= 0:
        raise InputError(f"membrane layers must be positive, got {layers}")
    area_m2 = ny * nx * grid_spacing_m**2
    mean_r = grain_diameter_m / 2
    mean_area = math.pi * (mean_r**2 + (grain_diameter_sd_m / 2) ** 2)  # E[π r²]
    n_grains = int(rng.poisson(layers * area_m2 / mean_area))
    diam = rng.normal(grain_diameter_m, grain_diameter_sd_m, n_grains)
    diam = np.clip(diam, 0.3 * grain_diameter_m, None)
    # grain classes by quantile of diameter; each class uses its mean radius
    edges = np.quantile(diam, np.linspace(0, 1, n_classes + 1)) if n_grains else np.zeros(2)
    cls = np.clip(np.searchsorted(edges, diam, side="right") - 1, 0, n_classes - 1)
    iy = rng.integers(0, ny, n_grains)
    ix = rng.integers(0, nx, n_grains)
    flat = iy * nx + ix

    total = None
    for c in range(n_classes):
        sel = cls == c
        if not np.any(sel):
            continue
        radius_px = float(diam[sel].mean()) / 2 / grid_spacing_m
        counts = np.bincount(flat[sel], minlength=ny * nx).astype(np.float32).reshape(ny, nx)
        kernel = _grain_kernel(radius_px, (ny, nx))
        spec = scipy.fft.rfft2(counts, workers=-1)
        del counts
        spec *= scipy.fft.rfft2(kernel, workers=-1)
        total = spec if total is None else total + spec
    if total is None:
        return np.zeros(shape, np.float32)
    thickness_px = scipy.fft.irfft2(total, s=(ny, nx), workers=-1)
    np.clip(thickness_px, 0.0, None, out=thickness_px)  # FFT round-off below zero
    return (thickness_px * grid_spacing_m).astype(np.float32)


def _grain_kernel(radius_px: float, shape: tuple[int, int]) -> np.ndarray:
    """Chord profile 2√(r² − ρ²) (grid samples) of one grain centred at (0, 0), periodically wrapped.

    Each sample is the mean over 3 × 3 sub-samples, so small grains keep their volume.
    """
    ny, nx = shape
    half = math.ceil(radius_px) + 1
    sub = (np.arange(3) - 1) / 3.0
    offs = np.arange(-half, half + 1)
    yy = (offs[:, None] + sub[None, :]).reshape(-1)
    prof = 2.0 * np.sqrt(np.clip(radius_px**2 - (yy[:, None] ** 2 + yy[None, :] ** 2), 0, None))
    n = offs.size
    prof = prof.reshape(n, 3, n, 3).mean(axis=(1, 3))
    kernel = np.zeros((ny, nx), np.float32)
    idx_y = np.mod(offs, ny)
    idx_x = np.mod(offs, nx)
    np.add.at(kernel, (idx_y[:, None], idx_x[None, :]), prof.astype(np.float32))
    return kernel
