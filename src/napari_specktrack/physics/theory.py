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

Line profiles (second half): :class:`ProfileComponent` / :class:`ProfileModel` are the 1-D
phase along a line across spheres, cylinders and tube walls plus an offset, and
:func:`model_from_phantom` builds one from a phantom; sampling and fitting live in
:mod:`napari_specktrack.physics.profiles`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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

PROFILE_KINDS = ("sphere", "cylinder", "tube")


def phase_per_px(
    material: Any, geometry: Geometry, *, medium: Any = "air", void: bool = False
) -> float:
    """Phase (rad) per pixel of chord through ``material`` in ``medium``: −k (δ − δ_medium) p_obj.

    Negative for matter denser than the medium (φ = −k ∫δ dz); ``void=True`` flips the sign
    (a bubble of medium inside the material). About −0.337 rad/px for POM in air at the
    default geometry (−105 rad per mm of POM, physics.md).
    """
    d = optical_constants(material, geometry.energy_keV).delta
    d_medium = optical_constants(medium, geometry.energy_keV).delta
    sign = -1.0 if void else 1.0
    return -sign * geometry.wavenumber_per_m * (d - d_medium) * geometry.object_pixel_size_m


@dataclass(frozen=True)
class ProfileComponent:
    """One object crossed by a profile line, in pixels along the line.

    Attributes
    ----------
    kind
        ``"sphere"``, ``"cylinder"`` or ``"tube"``.
    center_px
        Position of the sphere's centre (projected onto the line) or of the axis crossing,
        as a distance along the line from its start, in pixels.
    radius_px
        Sphere or cylinder radius, tube outer radius (pixels).
    phase_per_px
        Phase per pixel of chord in rad/px, −k Δδ p_obj (see :func:`phase_per_px`).
    inner_radius_px
        Tube inner radius in pixels (tube only).
    offset_px
        Sphere only: distance of the centre from the line in pixels (0: the line passes
        through the centre).
    stretch
        Cylinder/tube only: transverse distance from the axis per pixel along the line,
        |sin| of the angle between line and axis (1 when the line is perpendicular to it).
    label
        Free text for legends and reports (e.g. ``"POM sphere 2"``).
    """

    kind: str
    center_px: float
    radius_px: float
    phase_per_px: float
    inner_radius_px: float = 0.0
    offset_px: float = 0.0
    stretch: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PROFILE_KINDS:
            raise InputError(f"profile component kind must be one of {PROFILE_KINDS}, got {self.kind!r}")

    @property
    def apparent_radius_px(self) -> float:
        """Half-length of the chord the line cuts (pixels): √(R² − d²) for a sphere, R/stretch
        for a cylinder or tube; 0 if the line misses the object."""
        if self.kind == "sphere":
            return math.sqrt(max(self.radius_px**2 - self.offset_px**2, 0.0))
        return self.radius_px / max(self.stretch, 1e-12)

    def chord_px(self, along_px: np.ndarray, across_px: np.ndarray | float = 0.0) -> np.ndarray:
        """Chord (pixels of material along the beam) at ``along_px`` along and ``across_px``
        across the line (pixels, broadcast). Across-line offsets matter for spheres only."""
        u = np.asarray(along_px, dtype=float) - self.center_px
        if self.kind == "sphere":
            v = np.asarray(across_px, dtype=float) + self.offset_px
            return sphere_chord(u * u + v * v, self.radius_px)
        r = self.stretch * u
        if self.kind == "cylinder":
            return sphere_chord(r * r, self.radius_px)
        return tube_chord(r, self.radius_px, self.inner_radius_px)

    def phase(self, along_px: np.ndarray, across_px: np.ndarray | float = 0.0) -> np.ndarray:
        """Phase (rad) of this component alone at the given points (see :meth:`chord_px`)."""
        return self.phase_per_px * self.chord_px(along_px, across_px)


def _pixel_suboffsets(oversample: int) -> np.ndarray:
    """Sub-sample offsets (pixels) that tile one pixel: (i + ½)/s − ½, i = 0 … s − 1."""
    s = int(oversample)
    if s < 1:
        raise InputError(f"oversample must be a positive integer, got {oversample!r}")
    return (np.arange(s) + 0.5) / s - 0.5


def across_offsets_px(width_px: int) -> np.ndarray:
    """Across-line sample offsets (pixels) that a profile of ``width_px`` averages, 1 px apart
    and centred on the line (as ``skimage.measure.profile_line``'s ``linewidth``)."""
    w = int(width_px)
    if w < 1:
        raise InputError(f"profile width must be ≥ 1 pixel, got {width_px!r}")
    return np.arange(w) - (w - 1) / 2.0


@dataclass(frozen=True)
class ProfileModel:
    """A theoretical line profile: a sum of :class:`ProfileComponent`, plus a background
    ``offset_rad + slope_rad_per_px · s`` (s in px along the line; the slope absorbs a slowly
    varying background, e.g. a tube wall under a short line, or a retrieval's ramp)."""

    components: tuple[ProfileComponent, ...] = ()
    offset_rad: float = 0.0
    slope_rad_per_px: float = 0.0

    def evaluate(
        self, along_px: np.ndarray, *, width_px: int = 1, oversample: int = 1
    ) -> np.ndarray:
        """Profile (rad) at distances ``along_px`` (pixels) along the line.

        ``width_px`` averages that many parallel lines 1 px apart (the profile's width);
        ``oversample`` = s > 1 averages s × s sub-samples over each sampled pixel, which
        models pixel integration (the simulator's truth is pixel-averaged at s = 4) and
        smooths the √ singularity at the rims, which helps the fit.
        """
        s = np.asarray(along_px, dtype=float)
        sub = _pixel_suboffsets(oversample)
        across = (across_offsets_px(width_px)[:, None] + sub[None, :]).ravel()
        out = self.offset_rad + self.slope_rad_per_px * s
        along = s[..., None] + sub  # (..., s)
        for comp in self.components:
            if comp.kind == "sphere":
                val = comp.phase(along[..., :, None], across[None, :]).mean(axis=(-2, -1))
            else:
                val = comp.phase(along).mean(axis=-1)
            out += val
        return out

    def with_offset(self, offset_rad: float) -> ProfileModel:
        """The same components with another constant offset (rad)."""
        return ProfileModel(self.components, float(offset_rad), self.slope_rad_per_px)


def line_frame(
    p0_yx_px: tuple[float, float], p1_yx_px: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Start point, unit direction (y, x) and length (pixels) of a line from p0 to p1."""
    p0 = np.asarray(p0_yx_px, dtype=float)
    d = np.asarray(p1_yx_px, dtype=float) - p0
    length = float(np.hypot(d[0], d[1]))
    if not np.isfinite(length) or length <= 0:
        raise InputError(
            f"profile line from {tuple(p0_yx_px)} to {tuple(p1_yx_px)} has zero length; "
            "draw a line with two distinct end points"
        )
    return p0, d / length, length


def model_from_phantom(
    phantom: Mapping[str, Any],
    geometry: Geometry,
    p0_yx_px: tuple[float, float],
    p1_yx_px: tuple[float, float],
) -> tuple[ProfileModel, list[str]]:
    """The profile model of the objects of a phantom (``phantom.json`` schema) a line crosses.

    Spheres, cylinders and tubes become :class:`ProfileComponent` (positions along the line,
    pixels); an unbounded slab becomes part of the offset. Objects the line misses are left
    out. Returns the model and a list of notes on objects that cannot be modelled in 1-D
    (bounded slabs, gaussians): use :func:`napari_specktrack.physics.profiles.theory_from_phantom`
    for an exact profile of any phantom.
    """
    p0, e, length = line_frame(p0_yx_px, p1_yx_px)
    normal = np.array([-e[1], e[0]])  # left-hand normal (y, x)
    contrast = _material_contrast(phantom, geometry.energy_keV)
    k_p = geometry.wavenumber_per_m * geometry.object_pixel_size_m
    comps: list[ProfileComponent] = []
    notes: list[str] = []
    offset = 0.0
    for i, obj in enumerate(phantom.get("objects", [])):
        shape = obj.get("shape")
        d_delta, _ = contrast(obj)
        ppp = -k_p * d_delta
        label = f"{obj.get('material') if isinstance(obj.get('material'), str) else 'object'} {shape} {i}"
        if shape == "sphere":
            rel = np.asarray(obj["center_yx_px"], dtype=float) - p0
            c, d, r = float(rel @ e), float(rel @ normal), float(obj["radius_px"])
            if abs(d) < r and -r < c < length + r:
                comps.append(ProfileComponent("sphere", c, r, ppp, offset_px=d, label=label))
        elif shape in ("cylinder", "tube"):
            axis = obj.get("axis", "y")
            j = 1 if axis == "y" else 0  # the transverse image coordinate: x for axis y
            key = "center_x_px" if axis == "y" else "center_y_px"
            stretch = abs(float(e[j]))
            if stretch < 1e-9:
                notes.append(f"{label}: line runs along the axis; not modelled")
                continue
            c = float((float(obj[key]) - p0[j]) / e[j])
            if shape == "cylinder":
                comps.append(ProfileComponent("cylinder", c, float(obj["radius_px"]), ppp,
                                              stretch=stretch, label=label))
            else:
                comps.append(ProfileComponent(
                    "tube", c, float(obj["outer_radius_px"]), ppp,
                    inner_radius_px=float(obj["inner_radius_px"]), stretch=stretch, label=label))
        elif shape == "slab" and obj.get("bounds_yx_px") is None:
            offset += ppp * float(obj["thickness_px"])
        else:
            notes.append(f"{label}: shape {shape!r} is not a 1-D profile model; left out")
    return ProfileModel(tuple(comps), offset), notes
