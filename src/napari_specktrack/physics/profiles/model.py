"""1-D models of a line profile across spheres, cylinders and tube walls (pixels along the line).

A line profile is a function of the distance s (pixels) along a line drawn on the image.
Each object the line crosses contributes (phase per pixel of chord) × (chord in pixels):

- sphere    2√(R² − (s − c)² − d²)  (d: distance of its centre from the line; the profile
  is that of a sphere of *apparent* radius √(R² − d²) through its centre);
- cylinder  2√(R² − r²), r = stretch·(s − c) the transverse distance from its axis;
- tube      2(√(Ro² − r²) − √(Ri² − r²)), the wall only;

plus a background offset (a retrieved phase is known only up to a constant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import Geometry
from ..materials import optical_constants
from ..theory import _material_contrast, sphere_chord, tube_chord

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
