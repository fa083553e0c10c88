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

    def rims_px(self) -> dict[str, tuple[float, float]]:
        """Where the profile crosses the object's edges (px along the line): ``"outer"`` (both
        sides), and for a tube ``"inner"`` too. These sharp features are what a line measures."""
        a = self.apparent_radius_px
        rims = {"outer": (self.center_px - a, self.center_px + a)}
        if self.kind == "tube":
            ai = self.inner_radius_px / max(self.stretch, 1e-12)
            rims["inner"] = (self.center_px - ai, self.center_px + ai)
        return rims

    def extent_px(self, width_px: int = 1) -> tuple[float, float]:
        """Span (px along the line) where the component adds phase to a profile ``width_px``
        wide whose samples average each pixel (half a pixel of margin); NaN if it adds none."""
        if self.kind == "sphere":
            d = max(abs(self.offset_px) - (int(width_px) - 1) / 2.0 - 0.5, 0.0)
            if d >= self.radius_px:
                return math.nan, math.nan
            a = math.sqrt(self.radius_px**2 - d * d)
        else:
            a = self.apparent_radius_px
        return self.center_px - a - 0.5, self.center_px + a + 0.5

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


#: The shortest line (pixels) a profile is drawn along: two samples at least.
MIN_LINE_PX = 2.0


def line_frame(
    p0_yx_px: tuple[float, float], p1_yx_px: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Start point, unit direction (y, x) and length (pixels) of a line from p0 to p1.

    Refuses a line shorter than :data:`MIN_LINE_PX` (a profile needs more than one sample).
    """
    p0 = np.asarray(p0_yx_px, dtype=float)
    d = np.asarray(p1_yx_px, dtype=float) - p0
    length = float(np.hypot(d[0], d[1]))
    ends = f"from {tuple(float(v) for v in p0_yx_px)} to {tuple(float(v) for v in p1_yx_px)}"
    if not np.isfinite(length) or length <= 0:
        raise InputError(f"profile line {ends} has zero length; draw a line with two distinct end "
                         f"points at least {MIN_LINE_PX:g} px apart")
    if length < MIN_LINE_PX:
        raise InputError(f"profile line {ends} is only {length:.2g} px long; draw a line at least "
                         f"{MIN_LINE_PX:g} px long")
    return p0, d / length, length


def axis_crossing(
    axis: str, position_px: float, p0_yx_px: tuple[float, float], p1_yx_px: tuple[float, float]
) -> tuple[float, float] | None:
    """Where a line crosses the axis of a cylinder or tube: (distance along the line, stretch).

    ``axis`` is ``"y"`` (the axis runs down the image at column ``position_px``) or ``"x"``
    (along row ``position_px``); pixels. ``stretch`` = transverse distance from the axis per
    pixel along the line. None when the line runs along the axis (it never crosses it).
    """
    if axis not in ("y", "x"):
        raise InputError(f"cylinder/tube axis must be 'y' or 'x', got {axis!r}")
    p0, e, _ = line_frame(p0_yx_px, p1_yx_px)
    j = 1 if axis == "y" else 0  # the transverse image coordinate: x for axis y
    stretch = abs(float(e[j]))
    if stretch < 1e-9:
        return None
    return float((float(position_px) - p0[j]) / e[j]), stretch


def _on_span(comp: ProfileComponent, span: tuple[float, float], width_px: int) -> bool:
    """Does ``comp`` put any phase on the samples from span[0] to span[1] (px along the line)?"""
    lo, hi = comp.extent_px(width_px)
    return hi > span[0] and lo < span[1]


def model_from_phantom(
    phantom: Mapping[str, Any],
    geometry: Geometry,
    p0_yx_px: tuple[float, float],
    p1_yx_px: tuple[float, float],
    *,
    width_px: int = 1,
    span_px: tuple[float, float] | None = None,
) -> tuple[ProfileModel, list[str]]:
    """The profile model of the objects of a phantom (``phantom.json`` schema) a line crosses.

    Spheres, cylinders and tubes become :class:`ProfileComponent` (positions along the line,
    pixels); an unbounded slab becomes part of the offset. Objects that put no phase on the
    profile's samples — the segment ``span_px`` (px along the line, default the whole line;
    give the span of the finite samples when the line leaves the image) of ``width_px``
    parallel lines — are left out. Returns the model and a list of notes on objects that
    cannot be modelled in 1-D (bounded slabs, gaussians): use
    :func:`napari_specktrack.physics.profiles.theory_from_phantom` for an exact profile of any
    phantom.
    """
    p0, e, length = line_frame(p0_yx_px, p1_yx_px)
    span = (0.0, length) if span_px is None else (float(span_px[0]), float(span_px[1]))
    normal = np.array([-e[1], e[0]])  # left-hand normal (y, x)
    contrast = _material_contrast(phantom, geometry.energy_keV)
    k_p = geometry.wavenumber_per_m * geometry.object_pixel_size_m
    comps: list[ProfileComponent] = []
    notes: list[str] = []
    offset = 0.0
    for i, obj in enumerate(phantom.get("objects", [])):
        shape = obj.get("shape")
        ppp = -k_p * contrast(obj)[0]
        label = f"{obj.get('material') if isinstance(obj.get('material'), str) else 'object'} {shape} {i}"
        comp = None
        if shape == "sphere":
            rel = np.asarray(obj["center_yx_px"], dtype=float) - p0
            comp = ProfileComponent("sphere", float(rel @ e), float(obj["radius_px"]), ppp,
                                    offset_px=float(rel @ normal), label=label)
        elif shape in ("cylinder", "tube"):
            axis = obj.get("axis", "y")
            crossing = axis_crossing(axis, obj["center_x_px" if axis == "y" else "center_y_px"],
                                     p0_yx_px, p1_yx_px)
            if crossing is None:
                notes.append(f"{label}: line runs along the axis; not modelled")
                continue
            c, stretch = crossing
            if shape == "cylinder":
                comp = ProfileComponent("cylinder", c, float(obj["radius_px"]), ppp,
                                        stretch=stretch, label=label)
            else:
                comp = ProfileComponent("tube", c, float(obj["outer_radius_px"]), ppp,
                                        inner_radius_px=float(obj["inner_radius_px"]),
                                        stretch=stretch, label=label)
        elif shape == "slab" and obj.get("bounds_yx_px") is None:
            offset += ppp * float(obj["thickness_px"])
        else:
            notes.append(f"{label}: shape {shape!r} is not a 1-D profile model; left out")
        if comp is not None and _on_span(comp, span, width_px):
            comps.append(comp)
    return ProfileModel(tuple(comps), offset), notes
