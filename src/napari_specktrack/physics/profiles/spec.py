"""What the user knows about the objects a line crosses: :class:`SphereTheory`, checked and
turned into pixels against the geometry and the field of view before anything is computed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...errors import InputError, MaterialError
from ...geometry import Geometry
from ..materials import optical_constants
from .model import phase_per_px

#: Radii below this (pixels) are refused: a typo in the unit, not a sphere.
MIN_RADIUS_PX = 0.5
#: The most spheres one line may be asked to cross.
MAX_SPHERES = 50


@dataclass(frozen=True)
class PixelTheory:
    """A :class:`SphereTheory` in the units of a profile: rad per px of chord and pixels."""

    sphere_phase_per_px: float
    radius_px: float
    tube_phase_per_px: float | None = None
    tube_outer_radius_px: float | None = None
    tube_inner_radius_px: float | None = None


@dataclass(frozen=True)
class SphereTheory:
    """What the user knows about the spheres a line crosses (the widget's theory panel).

    Attributes
    ----------
    material, medium
        Preset names (``"POM"``, ``"air"``) or ``{"formula": ..., "density_g_cm3": ...}``.
    radius_m
        Nominal sphere radius in metres (all spheres alike): the physical size, or
        ``radius_px`` of ``phantom.json`` × the object-plane pixel p/M.
    n_spheres
        How many spheres the line crosses.
    tube_material, tube_outer_radius_m, tube_inner_radius_m, tube_axis
        An optional tube (hollow cylinder) around them, axis ``"y"`` or ``"x"`` of the image;
        no tube when ``tube_material`` is None. Radii in metres.
    tube_center_px
        Where the tube's axis is in the image, pixels: the column for axis ``"y"``, the row
        for ``"x"``. None: the middle of the image. Fitted from the walls when the line
        crosses them; held (and said so) when it does not.
    """

    material: Any = "POM"
    radius_m: float = 100e-6
    n_spheres: int = 1
    medium: Any = "air"
    tube_material: Any | None = None
    tube_outer_radius_m: float | None = None
    tube_inner_radius_m: float | None = None
    tube_axis: str = "y"
    tube_center_px: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.radius_m, (int, float)) and math.isfinite(self.radius_m)
                and self.radius_m > 0):
            raise InputError(f"sphere radius must be a positive number of metres (e.g. 1.3e-4 for "
                             f"130 µm), got {self.radius_m!r}")
        if not (0 <= int(self.n_spheres) <= MAX_SPHERES):
            raise InputError(f"number of spheres must be between 0 and {MAX_SPHERES}, got {self.n_spheres!r}")
        if self.tube_material is not None:
            ro, ri = self.tube_outer_radius_m, self.tube_inner_radius_m
            if ro is None or ri is None or not (math.isfinite(ro) and math.isfinite(ri) and 0 <= ri < ro):
                raise InputError(
                    f"tube radii must satisfy 0 ≤ inner < outer (metres), got outer={ro!r}, "
                    f"inner={ri!r}; give both, or switch the tube off"
                )
        if self.tube_axis not in ("y", "x"):
            raise InputError(f"tube axis must be 'y' or 'x', got {self.tube_axis!r}")
        if self.tube_center_px is not None and not math.isfinite(self.tube_center_px):
            raise InputError(f"tube centre must be a pixel position, got {self.tube_center_px!r}")

    def in_pixels(self, geometry: Geometry, *, field_px: float | None = None) -> PixelTheory:
        """Phase per pixel of chord (rad/px) and radii (px) at ``geometry``; refuses materials
        xraydb does not know, no contrast against the medium, and radii below half a pixel or
        larger than the field of view (``field_px``: the image's diagonal in pixels)."""
        p_m = geometry.object_pixel_size_m
        ppp = _contrast("sphere material", self.material, geometry, self.medium)
        radius_px = _radius_px("sphere radius", self.radius_m, p_m, field_px)
        if self.tube_material is None:
            return PixelTheory(ppp, radius_px)
        assert self.tube_outer_radius_m is not None and self.tube_inner_radius_m is not None
        tube_ppp = _contrast("tube material", self.tube_material, geometry, self.medium)
        outer = _radius_px("tube outer radius", self.tube_outer_radius_m, p_m, field_px)
        inner = self.tube_inner_radius_m / p_m
        return PixelTheory(ppp, radius_px, tube_ppp, outer, inner)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for reports)."""
        out: dict[str, Any] = {"kind": "spheres", "material": self.material, "radius_m": self.radius_m,
                               "n_spheres": int(self.n_spheres), "medium": self.medium}
        if self.tube_material is not None:
            out["tube"] = {"material": self.tube_material, "outer_radius_m": self.tube_outer_radius_m,
                           "inner_radius_m": self.tube_inner_radius_m, "axis": self.tube_axis,
                           "center_px": self.tube_center_px}
        return out


def one_line(exc: Exception) -> str:
    """An exception's message on one line (xraydb's span several)."""
    return " ".join(str(exc).split())


def _contrast(what: str, material: Any, geometry: Geometry, medium: Any) -> float:
    try:
        optical_constants(medium, geometry.energy_keV)
    except MaterialError as exc:
        raise InputError(f"medium {medium!r}: {one_line(exc)}") from exc
    try:
        ppp = phase_per_px(material, geometry, medium=medium)
    except MaterialError as exc:
        raise InputError(f"{what} {material!r}: {one_line(exc)}") from exc
    if ppp == 0 or not math.isfinite(ppp):
        raise InputError(f"{what} {material!r} has no phase contrast against the medium {medium!r}; "
                         "check the material and the medium")
    return ppp


def _radius_px(what: str, radius_m: float, pixel_size_m: float, field_px: float | None) -> float:
    px = radius_m / pixel_size_m
    hint = "give it in metres, e.g. 1.3e-4 for 130 µm"
    if px < MIN_RADIUS_PX:
        raise InputError(f"{what} {radius_m:g} m is {px:.2g} px, below half a pixel "
                         f"({pixel_size_m * 1e6:.3g} µm per px); {hint}")
    if field_px is not None and px > field_px:
        raise InputError(f"{what} {radius_m:g} m is {px:.3g} px, far larger than the field of view "
                         f"({field_px:.0f} px = {field_px * pixel_size_m * 1e3:.3g} mm across); {hint}")
    return px
