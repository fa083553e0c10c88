"""Analytic projections of the phantoms: thickness, phase and attenuation maps.

Everything here is exact geometry evaluated at given points, so that anyone can recompute a
simulation's truth from its ``phantom.json`` (schema in DESIGN.md). Coordinates are in pixels
of the written images (0-based, y = row, x = column, pixel centres at integers); thicknesses
come out in pixels and are converted to metres with ``Geometry.object_pixel_size_m``.

Shapes
------
``sphere``   ``center_yx_px``, ``radius_px``: chord 2√(R² − ρ²).
``cylinder`` ``axis`` ("y" or "x"), ``center_x_px`` (axis "y") or ``center_y_px`` (axis "x"),
             ``radius_px``: chord 2√(R² − r²) in the transverse coordinate r.
``tube``     as cylinder with ``outer_radius_px`` and ``inner_radius_px``: the wall only,
             2(√(Ro² − r²) − √(Ri² − r²)) for r < Ri, 2√(Ro² − r²) for Ri ≤ r < Ro.
``slab``     ``thickness_px`` along the beam, optionally ``bounds_yx_px`` = [y0, y1, x0, x1]
             (half-open, pixel edges) laterally; the whole field if absent.
``gaussian`` ``center_yx_px``, ``sigma_px``, ``peak_thickness_px``: a smooth bump
             t = t0·exp(−ρ² / 2σ²) (a phase object without sharp edges).

Each object has a ``material`` (preset name or formula + density). An object contributes
(δ_material − δ_medium) · t to ∫δ dz; ``"void": true`` marks medium inside a solid (a foam
bubble): it contributes −(δ_material − δ_medium) · t, subtracting its chord from the solid it
sits in. Attenuation likewise uses μ_tot.

The 1-D line-profile models built on these chords live in
:mod:`napari_specktrack.physics.profiles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .materials import optical_constants

SHAPES = ("sphere", "cylinder", "tube", "slab", "gaussian")


# --- 1-D and 2-D chord lengths (pixels in, pixels out) --------------------------------------
def sphere_chord(rho2: np.ndarray, radius: float) -> np.ndarray:
    """Chord 2√(R² − ρ²) through a sphere at squared distance ρ² from its centre (0 outside)."""
    return 2.0 * np.sqrt(np.clip(radius * radius - rho2, 0.0, None))


def tube_chord(r: np.ndarray, outer_radius: float, inner_radius: float) -> np.ndarray:
    """Path length through the wall of a tube at transverse distance ``r`` from its axis."""
    r2 = np.square(r)
    return sphere_chord(r2, outer_radius) - sphere_chord(r2, inner_radius)


def object_thickness(obj: Mapping[str, Any], y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Projected thickness (pixels) of one phantom object at points ``(y, x)`` (pixels).

    ``y`` and ``x`` broadcast against each other (e.g. a column and a row vector, or two
    1-D arrays of points along a line); the result has their broadcast shape.
    """
    t = _thickness_compact(obj, np.asarray(y, dtype=float), np.asarray(x, dtype=float))
    return np.broadcast_to(t, np.broadcast_shapes(np.shape(y), np.shape(x)))


def _thickness_compact(obj: Mapping[str, Any], y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """As :func:`object_thickness`, but only as large as the object needs (it broadcasts):
    a tube along y depends on x alone, an unbounded slab is a scalar."""
    shape = obj.get("shape")
    if shape == "sphere":
        cy, cx = obj["center_yx_px"]
        return sphere_chord(np.square(y - cy) + np.square(x - cx), float(obj["radius_px"]))
    if shape in ("cylinder", "tube"):
        axis = obj.get("axis", "y")
        if axis == "y":
            r = x - float(obj["center_x_px"])
        elif axis == "x":
            r = y - float(obj["center_y_px"])
        else:
            raise InputError(f"{shape} axis must be 'y' or 'x', got {axis!r}")
        if shape == "cylinder":
            return sphere_chord(np.square(r), float(obj["radius_px"]))
        return tube_chord(r, float(obj["outer_radius_px"]), float(obj["inner_radius_px"]))
    if shape == "slab":
        t = np.asarray(float(obj["thickness_px"]))
        bounds = obj.get("bounds_yx_px")
        if bounds is not None:
            y0, y1, x0, x1 = bounds
            # pixel centres at integers: the slab covers centres with y0 - 0.5 <= y < y1 - 0.5
            inside_y = (y + 0.5 >= y0) & (y + 0.5 < y1)
            inside_x = (x + 0.5 >= x0) & (x + 0.5 < x1)
            t = t * (inside_y & inside_x)
        return t
    if shape == "gaussian":
        cy, cx = obj["center_yx_px"]
        s = float(obj["sigma_px"])
        rho2 = np.square(y - cy) + np.square(x - cx)
        return float(obj["peak_thickness_px"]) * np.exp(-rho2 / (2.0 * s * s))
    raise InputError(f"unknown phantom shape {shape!r}; known shapes: {SHAPES}")


def _bbox(obj: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """Lateral extent (y0, y1, x0, x1) in pixels of a compact object, None if unbounded."""
    shape = obj["shape"]
    if shape == "sphere":
        (cy, cx), r = obj["center_yx_px"], float(obj["radius_px"])
        return cy - r, cy + r, cx - r, cx + r
    if shape == "gaussian":
        (cy, cx), r = obj["center_yx_px"], 6.0 * float(obj["sigma_px"])
        return cy - r, cy + r, cx - r, cx + r
    return None


# --- maps of a whole phantom ----------------------------------------------------------------
def _material_contrast(phantom: Mapping[str, Any], energy_keV: float):
    medium = optical_constants(phantom.get("medium", "air"), energy_keV)
    cache: dict[str, tuple[float, float]] = {}

    def contrast(obj: Mapping[str, Any]) -> tuple[float, float]:
        key = repr(obj["material"])
        if key not in cache:
            c = optical_constants(obj["material"], energy_keV)
            cache[key] = (c.delta - medium.delta, c.mu_total_per_m - medium.mu_total_per_m)
        d, mu = cache[key]
        sign = -1.0 if obj.get("void", False) else 1.0
        return sign * d, sign * mu

    return contrast


def projected_maps(
    phantom: Mapping[str, Any],
    geometry: Geometry,
    shape: tuple[int, int],
    *,
    oversample: int = 1,
    origin_yx_px: tuple[float, float] = (0.0, 0.0),
    objects: Iterable[Mapping[str, Any]] | None = None,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Phase (rad) and attenuation μ·t (dimensionless, intensity) of a phantom on a grid.

    The grid has ``shape`` = (ny, nx) *fine* samples; with ``oversample`` = s each image
    pixel holds s × s samples at its sub-pixel centres, so averaging s × s blocks gives the
    pixel-integrated values. ``origin_yx_px`` is the image-pixel coordinate of the first
    image pixel of the grid (negative when the grid has a margin around the image).

    Returns arrays (``dtype``, float64 by default; the simulator uses float32 to halve its
    memory) ``phase_rad`` = −k ∫(δ − δ_medium) dz and ``attenuation`` = ∫(μ − μ_medium) dz,
    so the intensity transmission is exp(−attenuation).
    """
    ny, nx = shape
    s = int(oversample)
    y = origin_yx_px[0] + (np.arange(ny) + 0.5) / s - 0.5
    x = origin_yx_px[1] + (np.arange(nx) + 0.5) / s - 0.5
    delta_t = np.zeros(shape, dtype=dtype)  # ∫Δδ dz in pixels
    mu_t = np.zeros(shape, dtype=dtype)  # ∫Δμ dz in pixels·(1/m)
    contrast = _material_contrast(phantom, geometry.energy_keV)
    for obj in objects if objects is not None else phantom["objects"]:
        d, mu = contrast(obj)
        box = _bbox(obj)
        if box is None:
            t = _thickness_compact(obj, y[:, None], x[None, :])
            delta_t += (d * t).astype(dtype)
            mu_t += (mu * t).astype(dtype)
            continue
        y0, y1, x0, x1 = box
        iy0 = max(int(np.searchsorted(y, y0)) - 1, 0)
        iy1 = min(int(np.searchsorted(y, y1)) + 1, ny)
        ix0 = max(int(np.searchsorted(x, x0)) - 1, 0)
        ix1 = min(int(np.searchsorted(x, x1)) + 1, nx)
        if iy0 >= iy1 or ix0 >= ix1:
            continue
        t = _thickness_compact(obj, y[iy0:iy1, None], x[None, ix0:ix1])
        delta_t[iy0:iy1, ix0:ix1] += d * t
        mu_t[iy0:iy1, ix0:ix1] += mu * t
    p = geometry.object_pixel_size_m
    delta_t *= -geometry.wavenumber_per_m * p  # in place: now the phase in radians
    mu_t *= p
    return delta_t, mu_t


def phase_map(
    phantom: Mapping[str, Any], geometry: Geometry, shape: tuple[int, int], *, oversample: int = 4
) -> np.ndarray:
    """Pixel-averaged projected phase (rad) of a phantom on an image of ``shape`` pixels.

    This is how the simulator's ``truth_phase`` is defined: the phase averaged over each
    pixel (``oversample`` × ``oversample`` sub-samples).
    """
    ny, nx = shape
    s = int(oversample)
    phase, _ = projected_maps(phantom, geometry, (ny * s, nx * s), oversample=s)
    return phase.reshape(ny, s, nx, s).mean(axis=(1, 3))


# --- 1-D line-profile models (the calibration of the paper's Fig. 6) -------------------------
#
# A line profile is a function of the distance s (pixels) along a line drawn on the image.
# Each object the line crosses contributes (phase per pixel of chord) × (chord in pixels):
#   sphere    2√(R² − (s − c)² − d²)  (d: distance of its centre from the line; the profile
#             is that of a sphere of *apparent* radius √(R² − d²) through its centre)
#   cylinder  2√(R² − r²), r = stretch·(s − c) the transverse distance from its axis
#   tube      2(√(Ro² − r²) − √(Ri² − r²)), the wall only
# and a constant offset (a retrieved phase is known only up to a constant). The profile
# models below are plain numpy and shared by the fit (physics.profiles), the CLI and the widget.
