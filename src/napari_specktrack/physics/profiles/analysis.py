"""The whole analysis of one profile: theory (phantom or sphere model) and fit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import Geometry
from .fitting import FitResult, TubeSpec, compare_profiles, fit_profile, initial_model
from .model import ProfileModel, line_frame, model_from_phantom, phase_per_px
from .sampling import theory_from_phantom


@dataclass(frozen=True)
class SphereTheory:
    """What the user knows about the spheres a line crosses (the widget's theory panel).

    Attributes
    ----------
    material, medium
        Preset names (``"POM"``, ``"air"``) or ``{"formula": ..., "density_g_cm3": ...}``.
    radius_m
        Nominal sphere radius in metres (all spheres alike).
    n_spheres
        How many spheres the line crosses.
    tube_material, tube_outer_radius_m, tube_inner_radius_m, tube_axis
        An optional tube (hollow cylinder) around them, axis ``"y"`` or ``"x"`` of the image;
        no tube when ``tube_material`` is None.
    """

    material: Any = "POM"
    radius_m: float = 100e-6
    n_spheres: int = 1
    medium: Any = "air"
    tube_material: Any | None = None
    tube_outer_radius_m: float | None = None
    tube_inner_radius_m: float | None = None
    tube_axis: str = "y"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            raise InputError(f"sphere radius must be positive (metres), got {self.radius_m!r}")
        if self.tube_material is not None:
            ro, ri = self.tube_outer_radius_m, self.tube_inner_radius_m
            if ro is None or ri is None or not (0 <= ri < ro):
                raise InputError(
                    f"tube radii must satisfy 0 ≤ inner < outer (metres), got outer={ro!r}, "
                    f"inner={ri!r}; give both, or switch the tube off"
                )
        if self.tube_axis not in ("y", "x"):
            raise InputError(f"tube axis must be 'y' or 'x', got {self.tube_axis!r}")


@dataclass
class ProfileAnalysis:
    """A measured profile with its theory and fit (see :func:`analyse_profile`).

    ``theory`` is the theoretical profile (rad) at the samples: exact for a known phantom;
    otherwise spheres of the *nominal* radius whose centres (and the offset) are placed by a
    fit with the radii held fixed. ``theory_metrics`` compares it with the measurement after
    removing the best constant (:func:`compare_profiles`). ``fit`` frees the radii too.
    """

    distance_px: np.ndarray
    measured: np.ndarray
    theory: np.ndarray | None
    theory_metrics: dict[str, float] | None
    fit: FitResult | None
    pixel_size_m: float
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """JSON-ready metrics (the CLI's ``--json``)."""
        return {
            "n_samples": int(self.distance_px.size),
            "pixel_size_m": self.pixel_size_m,
            "theory": self.theory_metrics,
            "fit": None if self.fit is None else self.fit.summary(self.pixel_size_m),
            "notes": list(self.notes),
        }


def _tube_stretch(axis: str, p0: Sequence[float], p1: Sequence[float] | None) -> float:
    if p1 is None:
        return 1.0
    _, e, _ = line_frame(p0, p1)
    return abs(float(e[1] if axis == "y" else e[0]))


def analyse_profile(
    distance_px: np.ndarray,
    values: np.ndarray,
    geometry: Geometry,
    *,
    theory: SphereTheory | None = None,
    phantom: Mapping[str, Any] | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
    width_px: int = 1,
    fit: bool = True,
    fit_slope: bool = False,
    fit_contrast: bool = False,
    robust: bool = False,
) -> ProfileAnalysis:
    """Theory and fit of one measured profile: what the CLI prints and the widget draws.

    Give either a known ``phantom`` (``phantom.json`` mapping; needs ``line`` = (p0, p1) in
    pixels) for the exact theory, with the fit starting from the phantom's objects, or a
    :class:`SphereTheory` (material, nominal radius, number of spheres, optional tube), whose
    spheres are located from the profile itself. With neither, only the profile is returned.
    """
    d = np.asarray(distance_px, dtype=float)
    v = np.asarray(values, dtype=float)
    p_m = geometry.object_pixel_size_m
    if phantom is not None:
        if line is None:
            raise InputError("a phantom theory needs the line's end points (y0, x0), (y1, x1) in pixels")
        _, th = theory_from_phantom(phantom, geometry, line[0], line[1], width_px=width_px)
        metrics = compare_profiles(v, th)
        model, notes = model_from_phantom(phantom, geometry, line[0], line[1])
        result = None
        if fit and model.components:
            start = model.with_offset(metrics["offset_rad"] + model.offset_rad)
            result = fit_profile(d, v, start, fit_slope=fit_slope, fit_contrast=fit_contrast,
                                 width_px=width_px, robust=robust,
                                 nominal_radii_px=[c.radius_px for c in model.components], notes=notes)
        elif not model.components:
            notes.append("the line crosses no sphere, cylinder or tube of the phantom")
        return ProfileAnalysis(d, v, th, metrics, result, p_m, list(notes))
    if theory is None:
        return ProfileAnalysis(d, v, None, None, None, p_m, [])

    ppp = phase_per_px(theory.material, geometry, medium=theory.medium)
    radius_px = theory.radius_m / p_m
    tube = None
    if theory.tube_material is not None:
        assert theory.tube_outer_radius_m is not None and theory.tube_inner_radius_m is not None
        tube = TubeSpec(
            phase_per_px(theory.tube_material, geometry, medium=theory.medium),
            theory.tube_outer_radius_m / p_m, theory.tube_inner_radius_m / p_m,
            stretch=_tube_stretch(theory.tube_axis, *line) if line else 1.0,
        )
    start, notes = initial_model(d, v, sphere_phase_per_px=ppp, n_spheres=theory.n_spheres,
                                 nominal_radius_px=radius_px, tube=tube)
    nominal = [tube.outer_radius_px if c.kind == "tube" else radius_px  # type: ignore[union-attr]
               for c in start.components]
    # theory: nominal radii, centres and offset placed by the fit
    nominal_start = ProfileModel(
        tuple(replace(c, radius_px=radius_px) if c.kind == "sphere" else c for c in start.components),
        start.offset_rad,
    )
    placed = fit_profile(d, v, nominal_start, fit_radii=False, fit_slope=fit_slope,
                         width_px=width_px, robust=robust)
    th = placed.fitted
    metrics = compare_profiles(v, th)
    result = None
    if fit:
        result = fit_profile(d, v, start, fit_slope=fit_slope, fit_contrast=fit_contrast,
                             width_px=width_px, robust=robust, nominal_radii_px=nominal, notes=notes)
    return ProfileAnalysis(d, v, th, metrics, result, p_m, list(notes))

