"""Fits of a profile model to a measured profile: starting values and least squares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...errors import InputError
from .model import ProfileComponent, ProfileModel


@dataclass(frozen=True)
class TubeSpec:
    """A tube (hollow cylinder) the line crosses, for :func:`initial_model`.

    ``phase_per_px`` in rad per pixel of wall (:func:`theory.phase_per_px` of the tube's
    material); radii in pixels; ``center_px`` the axis crossing as a distance along the line
    (None: the middle of the profile's support); ``stretch`` as :class:`ProfileComponent`.
    """

    phase_per_px: float
    outer_radius_px: float
    inner_radius_px: float
    center_px: float | None = None
    stretch: float = 1.0


@dataclass
class FitResult:
    """A fitted profile model and how well it matches the measured profile.

    Attributes
    ----------
    model, initial
        The fitted and the starting :class:`ProfileModel`.
    distance_px, measured, fitted
        The profile samples (px), the measured and the fitted values (rad).
    rmse_rad, max_error_rad
        Root-mean-square and largest absolute residual (rad) over the finite samples.
    correlation
        Pearson correlation coefficient of measured and fitted values (dimensionless).
    nominal_radii_px
        The radius each sphere/cylinder/tube component was expected to have (px), or None.
    contrast_scale
        Fitted factor on the spheres' δ contrast (1 unless ``fit_contrast``).
    success, message
        From ``scipy.optimize.least_squares``, plus notes from the initial guess.
    """

    model: ProfileModel
    initial: ProfileModel
    distance_px: np.ndarray
    measured: np.ndarray
    fitted: np.ndarray
    rmse_rad: float
    max_error_rad: float
    correlation: float
    nominal_radii_px: tuple[float | None, ...] = ()
    contrast_scale: float = 1.0
    success: bool = True
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def radii_px(self) -> tuple[float, ...]:
        """Fitted radius of each component (px; a tube's outer radius)."""
        return tuple(c.radius_px for c in self.model.components)

    @property
    def centers_px(self) -> tuple[float, ...]:
        """Fitted centre of each component, distance along the line (px)."""
        return tuple(c.center_px for c in self.model.components)

    def radius_errors_rel(self) -> tuple[float | None, ...]:
        """(fitted − nominal) / nominal for each component with a nominal radius."""
        return tuple(
            None if nom is None or nom == 0 else (c.radius_px - nom) / nom
            for c, nom in zip(self.model.components, self.nominal_radii_px)
        )

    def summary(self, pixel_size_m: float | None = None) -> dict[str, Any]:
        """A JSON-ready report: metrics, and per component centre/radius in px (and µm)."""
        comps = []
        nominal = self.nominal_radii_px or (None,) * len(self.model.components)
        for c, nom, err in zip(self.model.components, nominal, self.radius_errors_rel()):
            row: dict[str, Any] = {
                "kind": c.kind, "label": c.label, "center_px": c.center_px,
                "radius_px": c.radius_px, "nominal_radius_px": nom, "radius_error_rel": err,
            }
            if c.kind == "tube":
                row["inner_radius_px"] = c.inner_radius_px
            if pixel_size_m:
                row["radius_um"] = c.radius_px * pixel_size_m * 1e6
                row["center_um"] = c.center_px * pixel_size_m * 1e6
            comps.append(row)
        return {
            "rmse_rad": self.rmse_rad, "max_error_rad": self.max_error_rad,
            "correlation": self.correlation, "offset_rad": self.model.offset_rad,
            "slope_rad_per_px": self.model.slope_rad_per_px,
            "contrast_scale": self.contrast_scale, "success": self.success,
            "message": self.message, "notes": list(self.notes), "components": comps,
        }


def compare_profiles(
    measured: np.ndarray, theory: np.ndarray, *, align_offset: bool = True
) -> dict[str, float]:
    """Agreement of a measured profile with a theoretical one (both rad, same samples).

    With ``align_offset`` the best constant (the mean difference) is removed first — a
    retrieved phase is defined only up to a constant. Returns ``rmse_rad``,
    ``max_error_rad``, ``correlation`` (Pearson) and ``offset_rad`` (the constant removed),
    over the samples where both are finite.
    """
    m = np.asarray(measured, dtype=float)
    t = np.asarray(theory, dtype=float)
    if m.shape != t.shape:
        raise InputError(f"measured profile {m.shape} and theory {t.shape} differ in length")
    ok = np.isfinite(m) & np.isfinite(t)
    if ok.sum() < 2:
        raise InputError("fewer than 2 finite profile samples; is the line inside the image?")
    diff = m[ok] - t[ok]
    offset = float(diff.mean()) if align_offset else 0.0
    res = diff - offset
    sm, st = m[ok].std(), t[ok].std()
    corr = float(np.corrcoef(m[ok], t[ok])[0, 1]) if sm > 0 and st > 0 else float("nan")
    return {
        "rmse_rad": float(np.sqrt(np.mean(res**2))),
        "max_error_rad": float(np.max(np.abs(res))),
        "correlation": corr,
        "offset_rad": offset,
    }


def initial_model(
    distance_px: np.ndarray,
    values: np.ndarray,
    *,
    sphere_phase_per_px: float,
    n_spheres: int = 1,
    nominal_radius_px: float | None = None,
    tube: TubeSpec | None = None,
    use_amplitude: bool = True,
) -> tuple[ProfileModel, list[str]]:
    """Starting values for :func:`fit_profile`, found from the profile itself.

    The offset is the profile's background level (its 98th percentile for objects of negative
    phase, i.e. denser than the medium); a tube is centred on the middle of the profile's
    support; spheres sit at the ``n_spheres`` most prominent dips left after subtracting
    background and tube. A sphere's starting radius comes from the depth of its dip,
    R = depth / (2 |φ per px|) — the half-chord the line cuts, correct even when the line
    misses the centre — or, with ``use_amplitude=False`` (unknown material), from
    ``nominal_radius_px`` or the dip's width.

    Returns the model and notes (e.g. fewer dips found than spheres asked for).
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    s = np.asarray(distance_px, dtype=float)
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if ok.sum() < 5:
        raise InputError("the profile has fewer than 5 finite samples; draw a longer line inside the image")
    if sphere_phase_per_px == 0 or not math.isfinite(sphere_phase_per_px):
        raise InputError("sphere material has no phase contrast against the medium; check material/medium")
    if int(n_spheres) < 0:
        raise InputError(f"number of spheres must be ≥ 0, got {n_spheres}")
    sign = -1.0 if sphere_phase_per_px < 0 else 1.0
    s, v = s[ok], v[ok]
    offset = float(np.percentile(v, 98 if sign < 0 else 2))
    depth = sign * (v - offset)  # positive inside matter
    notes: list[str] = []
    comps: list[ProfileComponent] = []
    if tube is not None:
        c = tube.center_px
        if c is None:
            support = s[depth > 0.1 * max(depth.max(), 1e-12)]
            c = 0.5 * (support[0] + support[-1]) if support.size else 0.5 * (s[0] + s[-1])
        comps.append(ProfileComponent(
            "tube", float(c), tube.outer_radius_px, tube.phase_per_px,
            inner_radius_px=tube.inner_radius_px, stretch=tube.stretch, label="tube"))
        depth = depth - sign * ProfileModel(tuple(comps)).evaluate(s)
    n = int(n_spheres)
    if n:
        smooth = gaussian_filter1d(depth, 1.0)
        peaks, props = find_peaks(smooth, prominence=0.05 * max(float(np.max(np.abs(smooth))), 1e-12))
        order = np.argsort(props["prominences"])[::-1][:n]
        if len(order) < n:
            notes.append(f"found {len(order)} sphere-like dip(s) in the profile, {n} asked for")
        if len(order) == 0:
            raise InputError(
                "no sphere found along the line: draw it across a sphere, or check the material "
                "(its phase must have the sign of the profile's dips)"
            )
        for rank, i in enumerate(sorted(peaks[order])):
            peak_depth = max(float(smooth[i]), 1e-12)
            if use_amplitude:
                r0 = peak_depth / (2.0 * abs(sphere_phase_per_px))
            elif nominal_radius_px:
                r0 = float(nominal_radius_px)
            else:
                above = np.flatnonzero(smooth > 0.5 * peak_depth)
                r0 = max(0.5 * (s[above].max() - s[above].min()) * 1.15, 1.0)
            r0 = float(np.clip(r0, 1.0, s[-1] - s[0]))
            comps.append(ProfileComponent("sphere", float(s[i]), r0, sphere_phase_per_px,
                                          label=f"sphere {rank + 1}"))
    return ProfileModel(tuple(comps), offset), notes


def _pack(model: ProfileModel, fit_centers: bool, fit_radii: bool, fit_offset: bool,
          fit_slope: bool, fit_contrast: bool, span: tuple[float, float]):
    """Parameter vector, bounds and an unpacker for :func:`fit_profile`."""
    lo_s, hi_s = span
    length = hi_s - lo_s
    x0: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    slots: list[tuple[int, str]] = []
    for i, c in enumerate(model.components):
        if fit_centers:
            reach = c.radius_px / max(c.stretch, 1e-12) if c.kind != "sphere" else c.radius_px
            slots.append((i, "center_px"))
            x0.append(c.center_px)
            lo.append(min(lo_s - reach, c.center_px - 1e-6))
            hi.append(max(hi_s + reach, c.center_px + 1e-6))
        if fit_radii:
            slots.append((i, "radius_px"))
            x0.append(c.radius_px)
            lo.append(0.25)
            hi.append(max(4.0 * length, c.radius_px * 2))
            if c.kind == "tube":
                slots.append((i, "wall_px"))
                wall = max(c.radius_px - c.inner_radius_px, 0.3)
                x0.append(wall)
                lo.append(0.25)
                hi.append(max(length, wall * 2))
    if fit_offset:
        slots.append((-1, "offset"))
        x0.append(model.offset_rad)
        lo.append(-np.inf)
        hi.append(np.inf)
    if fit_slope:
        slots.append((-1, "slope"))
        x0.append(model.slope_rad_per_px)
        lo.append(-np.inf)
        hi.append(np.inf)
    if fit_contrast:
        slots.append((-1, "contrast"))
        x0.append(1.0)
        lo.append(0.05)
        hi.append(20.0)
    base = [replace(c) for c in model.components]

    def unpack(p: np.ndarray) -> tuple[ProfileModel, float]:
        comps = {i: {} for i in range(len(base))}
        offset, slope, scale = model.offset_rad, model.slope_rad_per_px, 1.0
        for (i, name), val in zip(slots, p):
            if name == "offset":
                offset = float(val)
            elif name == "slope":
                slope = float(val)
            elif name == "contrast":
                scale = float(val)
            else:
                comps[i][name] = float(val)
        out = []
        for i, c in enumerate(base):
            kw = comps[i]
            wall = kw.pop("wall_px", None)
            c2 = replace(c, **kw)
            if wall is not None:
                c2 = replace(c2, inner_radius_px=max(c2.radius_px - wall, 0.0))
            if c2.kind == "sphere" and scale != 1.0:
                c2 = replace(c2, phase_per_px=c.phase_per_px * scale)
            out.append(c2)
        return ProfileModel(tuple(out), offset, slope), scale

    return np.array(x0, dtype=float), (np.array(lo), np.array(hi)), unpack


def fit_profile(
    distance_px: np.ndarray,
    values: np.ndarray,
    initial: ProfileModel,
    *,
    fit_centers: bool = True,
    fit_radii: bool = True,
    fit_offset: bool = True,
    fit_slope: bool = False,
    fit_contrast: bool = False,
    width_px: int = 1,
    oversample: int = 4,
    nominal_radii_px: Sequence[float | None] | None = None,
    robust: bool = False,
    notes: Sequence[str] = (),
) -> FitResult:
    """Fit a profile model's centres, radii and offset to a measured profile (least squares).

    Bounded trust-region least squares (``scipy.optimize.least_squares``) from ``initial``
    (e.g. :func:`initial_model` or :func:`theory.model_from_phantom`). Radii are in pixels
    (a tube's wall thickness is fitted with its outer radius), centres within the line's span
    plus one radius, the offset free; ``fit_slope`` adds a linear background. The material
    contrast stays at its nominal value unless ``fit_contrast`` (one factor on all spheres'
    δ − δ_medium: the material is uncertain).
    ``width_px`` and ``oversample`` must match how the profile was sampled (the model averages
    the same parallel lines and models pixel integration). ``robust`` uses a soft-L1 loss,
    which tolerates a few wild samples (edge artefacts of a retrieval).
    """
    from scipy.optimize import least_squares

    s = np.asarray(distance_px, dtype=float)
    v = np.asarray(values, dtype=float)
    if s.shape != v.shape:
        raise InputError(f"distance {s.shape} and values {v.shape} differ in length")
    ok = np.isfinite(v)
    if ok.sum() < 4:
        raise InputError("fewer than 4 finite profile samples to fit; draw a longer line inside the image")
    x0, bounds, unpack = _pack(initial, fit_centers, fit_radii, fit_offset, fit_slope, fit_contrast,
                               (float(s[ok].min()), float(s[ok].max())))
    sk, vk = s[ok], v[ok]
    scale = max(float(np.std(vk)), 1e-12)

    def residual(p: np.ndarray) -> np.ndarray:
        model, _ = unpack(p)
        return (model.evaluate(sk, width_px=width_px, oversample=oversample) - vk) / scale

    if x0.size:
        x0 = np.clip(x0, bounds[0], bounds[1])
        sol = least_squares(residual, x0, bounds=bounds, x_scale="jac",
                            loss="soft_l1" if robust else "linear", f_scale=0.1, max_nfev=400 * x0.size)
        model, cscale = unpack(sol.x)
        success, message = bool(sol.success), str(sol.message)
    else:
        model, cscale, success, message = initial, 1.0, True, "nothing to fit"
    fitted = model.evaluate(s, width_px=width_px, oversample=oversample)
    metrics = compare_profiles(v, fitted, align_offset=False)
    if nominal_radii_px is None:
        nominal = tuple(None for _ in model.components)
    else:
        nominal = tuple(nominal_radii_px)
        if len(nominal) != len(model.components):
            raise InputError(
                f"{len(nominal)} nominal radii for {len(model.components)} model components"
            )
    return FitResult(
        model=model, initial=initial, distance_px=s, measured=v, fitted=fitted,
        rmse_rad=metrics["rmse_rad"], max_error_rad=metrics["max_error_rad"],
        correlation=metrics["correlation"], nominal_radii_px=nominal, contrast_scale=cscale,
        success=success, message=message, notes=list(notes),
    )

