"""The whole analysis of one profile: theory (a known phantom, or the sphere model) and fit."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import Geometry
from .fitting import fit_profile
from .initial import MIN_HALF_CHORD_PX, TubeSpec, initial_models
from .model import ProfileModel, axis_crossing, model_from_phantom
from .result import FitResult, compare_profiles
from .sampling import theory_from_phantom
from .spec import SphereTheory

Line = tuple[Sequence[float], Sequence[float]]


@dataclass
class ProfileAnalysis:
    """A measured profile with its theory and fit (see :func:`analyse_profile`).

    ``theory`` is the theoretical profile (rad) at the samples: exact for a known phantom;
    otherwise spheres of the *nominal* radius whose centres (and the offset) are placed by a
    fit with the radii held fixed. ``theory_metrics`` compares it with the measurement after
    removing the best constant (:func:`compare_profiles`). ``fit`` frees the radii too, where
    the line constrains them.
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
            "n_finite": int(np.isfinite(self.measured).sum()),
            "pixel_size_m": self.pixel_size_m,
            "theory": self.theory_metrics,
            "fit": None if self.fit is None else self.fit.summary(self.pixel_size_m),
            "notes": list(self.notes),
        }


def _span(d: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(v)
    if ok.sum() < 2:
        raise InputError("fewer than 2 profile samples inside the image; draw the line on the image")
    return float(d[ok].min()), float(d[ok].max())


def _phantom_analysis(d, v, geometry, phantom, line, width_px, fit, fit_kw) -> ProfileAnalysis:
    if line is None:
        raise InputError("a phantom theory needs the line's end points (y0, x0), (y1, x1) in pixels")
    _, th = theory_from_phantom(phantom, geometry, line[0], line[1], width_px=width_px)
    metrics = compare_profiles(v, th)
    model, notes = model_from_phantom(phantom, geometry, line[0], line[1], width_px=width_px,
                                      span_px=_span(d, v))
    result = None
    if not model.components:
        notes.append("the line crosses no sphere, cylinder or tube of the phantom")
    elif fit:
        start = model.with_offset(metrics["offset_rad"] + model.offset_rad)
        result = fit_profile(d, v, start, width_px=width_px, notes=notes,
                             nominal_radii_px=[c.radius_px for c in model.components], **fit_kw)
        notes = result.notes
    return ProfileAnalysis(d, v, th, metrics, result, geometry.object_pixel_size_m, list(notes))


def _tube_spec(theory: SphereTheory, px, line: Line | None, image_shape, notes: list[str]):
    """The tube in profile coordinates: its nominal axis crossing and stretch along the line.
    Appends to ``notes`` where a nominal crossing came from (kept if the fit must hold it)."""
    if px.tube_phase_per_px is None:
        return None
    if line is None:
        return TubeSpec(px.tube_phase_per_px, px.tube_outer_radius_px, px.tube_inner_radius_px)
    position = theory.tube_center_px
    if position is None and image_shape is not None:
        position = (image_shape[1 if theory.tube_axis == "y" else 0] - 1) / 2.0
        notes.append(f"the tube axis is taken at the image centre ({'x' if theory.tube_axis == 'y' else 'y'}"
                     f" = {position:g} px); give its position if it is elsewhere")
    if position is None:
        crossing = axis_crossing(theory.tube_axis, 0.0, line[0], line[1])
        center = None
    else:
        crossing = axis_crossing(theory.tube_axis, position, line[0], line[1])
        center = None if crossing is None else crossing[0]
    if crossing is None:
        notes.append("the line runs along the tube axis: the tube adds a constant; left out")
        return None
    return TubeSpec(px.tube_phase_per_px, px.tube_outer_radius_px, px.tube_inner_radius_px,
                    center_px=center, stretch=crossing[1])


def _without_specks(fit: FitResult, start: ProfileModel, nominal: list[float]):
    """The start without the spheres the fit shrank to specks (half-chord below half the
    smallest a start takes: an edge's pixel-averaging residual, not a sphere), with the nominal
    radii of what is left; None when there are none (or nothing else is left)."""
    keep = [i for i, c in enumerate(fit.model.components)
            if c.kind != "sphere" or c.apparent_radius_px >= MIN_HALF_CHORD_PX / 2]
    if len(keep) == len(start.components) or not any(start.components[i].kind == "sphere" for i in keep):
        return None
    model = ProfileModel(tuple(start.components[i] for i in keep), start.offset_rad)
    return model, [nominal[i] for i in keep]


def _sphere_analysis(d, v, geometry, theory: SphereTheory, line, width_px, fit, fit_kw,
                     image_shape) -> ProfileAnalysis:
    length = float(np.nanmax(d) - np.nanmin(d)) if d.size else 0.0
    field_px = math.hypot(*image_shape[:2]) if image_shape is not None else 10.0 * max(length, 1.0)
    px = theory.in_pixels(geometry, field_px=field_px)
    notes: list[str] = []
    tube_notes: list[str] = []
    tube = _tube_spec(theory, px, line, image_shape, tube_notes)
    notes += [n for n in tube_notes if "along the tube axis" in n]
    starts, found = initial_models(d, v, sphere_phase_per_px=px.sphere_phase_per_px,
                                   n_spheres=theory.n_spheres, nominal_radius_px=px.radius_px, tube=tube)
    notes += found
    nominal = [px.tube_outer_radius_px if c.kind == "tube" else px.radius_px for c in starts[0].components]
    # several starts when spheres nest or touch: the free fit decides which one holds
    fits = [fit_profile(d, v, start, width_px=width_px, nominal_radii_px=nominal, **fit_kw)
            for start in starts]
    best = min(range(len(fits)), key=lambda i: fits[i].rmse_rad)
    start = starts[best]
    pruned = _without_specks(fits[best], start, nominal)
    if pruned is not None:
        notes.append(f"{len(start.components) - len(pruned[0].components)} sphere(s) left out: the fit "
                     f"shrank them below {MIN_HALF_CHORD_PX / 2:g} px")
        start, nominal = pruned
        fits[best] = fit_profile(d, v, start, width_px=width_px, nominal_radii_px=nominal, **fit_kw)
    chosen = fits[best]
    if any(c.kind == "tube" and "center_px" in h for c, h in zip(chosen.model.components, chosen.held)):
        notes += tube_notes  # where the held crossing came from
    # theory: nominal radii, centres and offset placed by the fit
    nominal_start = ProfileModel(
        tuple(replace(c, radius_px=px.radius_px) if c.kind == "sphere" else c for c in start.components),
        start.offset_rad,
    )
    placed = fit_profile(d, v, nominal_start, fit_radii=False, width_px=width_px,
                         **{**fit_kw, "fit_contrast": False})
    metrics = compare_profiles(v, placed.fitted)
    result = None
    if fit:
        result = fits[best]
        result.notes[:0] = notes
        notes = result.notes
    return ProfileAnalysis(d, v, placed.fitted, metrics, result, geometry.object_pixel_size_m,
                           list(notes))


def analyse_profile(
    distance_px: np.ndarray,
    values: np.ndarray,
    geometry: Geometry,
    *,
    theory: SphereTheory | None = None,
    phantom: Mapping[str, Any] | None = None,
    line: Line | None = None,
    width_px: int = 1,
    fit: bool = True,
    fit_slope: bool = False,
    fit_contrast: bool = False,
    robust: bool = False,
    image_shape: tuple[int, ...] | None = None,
) -> ProfileAnalysis:
    """Theory and fit of one measured profile: what the CLI prints and the widget draws.

    Give either a known ``phantom`` (``phantom.json`` mapping; needs ``line`` = (p0, p1) in
    pixels) for the exact theory, with the fit starting from the phantom's objects on the
    segment, or a :class:`SphereTheory` (material, nominal radius, number of spheres, optional
    tube), whose spheres are located from the profile itself. With neither, only the profile
    is returned. ``image_shape`` (pixels) is the field of view radii are checked against
    (without it, ten times the line's length) and puts a tube of unknown position at the
    image centre. Parameters the line cannot constrain are held (see :func:`fit_profile`).
    """
    d = np.asarray(distance_px, dtype=float)
    v = np.asarray(values, dtype=float)
    if d.shape != v.shape or d.ndim != 1:
        raise InputError(f"distance {d.shape} and values {v.shape} must be 1-D of one length")
    fit_kw = {"fit_slope": fit_slope, "fit_contrast": fit_contrast, "robust": robust}
    if phantom is not None and theory is not None:
        raise InputError("give either a phantom or a sphere theory, not both")
    if phantom is not None:
        return _phantom_analysis(d, v, geometry, phantom, line, width_px, fit, fit_kw)
    if theory is None:
        return ProfileAnalysis(d, v, None, None, None, geometry.object_pixel_size_m, [])
    return _sphere_analysis(d, v, geometry, theory, line, width_px, fit, fit_kw, image_shape)
