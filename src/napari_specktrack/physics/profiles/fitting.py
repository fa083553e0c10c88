"""Least-squares fit of a profile model to a measured profile, holding what the line cannot see.

A line measures an object through its *edges*: where they lie on the sampled segment, their
positions fix the centre and the radius; where they do not, a radius or a tube's wall only
bends the background a little, and a free fit trades it against the offset (a tube radius
55 % off for a line between the walls). :func:`constrained_parameters` decides, from the
edges on the segment, which parameters are fitted; the others are held at their nominal
values and the result says why. Every fitted value carries a 1σ uncertainty from the
Jacobian of the fit, scaled by the residual variance and by the residuals' correlation
along the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ...errors import InputError
from .model import ProfileComponent, ProfileModel
from .result import FitResult, compare_profiles

#: An edge is on the segment when it lies at least this far (px) inside the sampled span.
EDGE_MARGIN_PX = 1.0


def constrained_parameters(
    comp: ProfileComponent,
    span_px: tuple[float, float],
    *,
    contrast_known: bool = True,
    margin_px: float = EDGE_MARGIN_PX,
) -> tuple[set[str], dict[str, str]]:
    """Which parameters of ``comp`` the samples from ``span_px[0]`` to ``span_px[1]`` (px along
    the line) constrain: (names to fit, {name: why it is held}).

    Sphere or cylinder: both edges on the segment fix centre and radius; one edge fixes the
    centre, and the radius too if the centre is on the segment and the contrast is known (the
    depth there is 2|φ/px|·R). Tube: any wall edge fixes where the tube is (its centre, the
    radii held), both outer (or both inner) edges fix the centre and the radius they belong
    to, an outer and an inner edge on the same side the wall thickness (the inner radius).
    """
    lo, hi = span_px

    def on(x: float) -> bool:
        return lo + margin_px <= x <= hi - margin_px

    name = comp.label or comp.kind
    rims = comp.rims_px()
    outer = [on(x) for x in rims["outer"]]
    free: set[str] = set()
    held: dict[str, str] = {}
    if comp.kind != "tube":
        centre_on = lo <= comp.center_px <= hi
        if any(outer) or centre_on:
            free.add("center_px")
        else:
            held["center_px"] = f"the line sees neither an edge nor the centre of {name}"
        if all(outer) or (any(outer) and centre_on and (contrast_known or comp.kind == "cylinder")):
            free.add("radius_px")
        else:
            held["radius_px"] = (f"only one edge of {name} is on the line" if any(outer)
                                 else f"no edge of {name} is on the line")
        return free, held
    inner = [on(x) for x in rims["inner"]]
    centred = all(outer) or all(inner)
    if any(outer) or any(inner):
        free.add("center_px")
    else:
        held["center_px"] = f"no wall of {name} is on the line"
    if centred and any(outer):
        free.add("radius_px")
    else:
        held["radius_px"] = (f"only one side of {name} is on the line" if any(outer) or any(inner)
                             else f"no wall of {name} is on the line")
    if (centred and any(inner)) or (outer[0] and inner[0]) or (outer[1] and inner[1]):
        free.add("inner_radius_px")
    else:
        held["inner_radius_px"] = (f"no inner edge of {name} is on the line" if not any(inner)
                                   else f"the wall thickness of {name} is not seen")
    return free, held


def _component_slots(i: int, c: ProfileComponent, free: set[str], span: tuple[float, float]):
    """(component index, name, start, lower bound, upper bound) of each free parameter of c."""
    lo_s, hi_s = span
    big = max(4.0 * (hi_s - lo_s), 2.0 * c.radius_px)
    slots = []
    if "center_px" in free:
        reach = c.apparent_radius_px
        slots.append((i, "center_px", c.center_px, min(lo_s - reach, c.center_px - 1e-6),
                      max(hi_s + reach, c.center_px + 1e-6)))
    if "radius_px" in free:
        r_lo = 0.25
        if c.kind == "sphere":
            r_lo = max(r_lo, abs(c.offset_px) + 0.05)
        if c.kind == "tube" and "inner_radius_px" not in free:
            r_lo = max(r_lo, c.inner_radius_px + 0.25)
        slots.append((i, "radius_px", c.radius_px, r_lo, max(big, r_lo + 1.0)))
    if "inner_radius_px" in free:
        r_hi = big if "radius_px" in free else max(c.radius_px - 0.25, 1e-3)
        slots.append((i, "inner_radius_px", c.inner_radius_px, 0.0, r_hi))
    return slots


def _pack(model: ProfileModel, free: Sequence[set[str]], fit_offset: bool, fit_slope: bool,
          fit_contrast: bool, span: tuple[float, float]):
    """Start vector, bounds and an unpacker (vector → (model, contrast factor)) for the fit."""
    slots = [s for i, c in enumerate(model.components) for s in _component_slots(i, c, free[i], span)]
    if fit_offset:
        slots.append((-1, "offset", model.offset_rad, -np.inf, np.inf))
    if fit_slope:
        slots.append((-1, "slope", model.slope_rad_per_px, -np.inf, np.inf))
    if fit_contrast:
        slots.append((-1, "contrast", 1.0, 0.05, 20.0))
    lo = np.array([s[3] for s in slots], dtype=float)
    hi = np.array([s[4] for s in slots], dtype=float)
    x0 = np.clip(np.array([s[2] for s in slots], dtype=float), lo, hi)

    def unpack(p: np.ndarray) -> tuple[ProfileModel, float]:
        changes: list[dict[str, float]] = [{} for _ in model.components]
        extra = {"offset": model.offset_rad, "slope": model.slope_rad_per_px, "contrast": 1.0}
        for (i, name, *_), val in zip(slots, p):
            if i < 0:
                extra[name] = float(val)
            else:
                changes[i][name] = float(val)
        out = []
        for c, kw in zip(model.components, changes):
            c2 = replace(c, **kw)
            if c2.kind == "tube" and c2.inner_radius_px > c2.radius_px - 0.25:
                c2 = replace(c2, inner_radius_px=max(c2.radius_px - 0.25, 0.0))
            if c2.kind == "sphere" and extra["contrast"] != 1.0:
                c2 = replace(c2, phase_per_px=c.phase_per_px * extra["contrast"])
            out.append(c2)
        return ProfileModel(tuple(out), extra["offset"], extra["slope"]), extra["contrast"]

    return x0, (lo, hi), unpack, [(i, name) for i, name, *_ in slots]


def correlation_inflation(residual: np.ndarray) -> float:
    """1 + 2 Σ ρ_k over the initial positive run of the residuals' autocorrelation ρ_k (≥ 1).

    The number of samples per independent one: the variance of a fitted parameter scales by
    it when neighbouring residuals are correlated (a retrieval's errors span its window).
    """
    r = np.asarray(residual, dtype=float) - np.mean(residual)
    n = r.size
    var = float(r @ r)
    if n < 4 or var <= 0:
        return 1.0
    spectrum = np.fft.rfft(r, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: n // 2] / var
    total = 0.0
    for rho in acf[1:]:
        if rho <= 0:
            break
        total += rho
    return float(max(1.0, 1.0 + 2.0 * total))


def _sigmas(jac: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, float]:
    """1σ of each parameter from the Jacobian at the solution: √diag((JᵀJ)⁺ · s² · inflation),
    s² = Σr² / (m − n) the residual variance (J and r in the same units)."""
    m, n = jac.shape
    if m <= n:
        return np.full(n, np.nan), 1.0
    s2 = float(residual @ residual) / (m - n)
    inflation = correlation_inflation(residual)
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    keep = sv > sv.max() * max(m, n) * np.finfo(float).eps if sv.size else sv
    cov = (vt[keep].T / sv[keep] ** 2) @ vt[keep]
    return np.sqrt(np.clip(np.diag(cov), 0.0, None) * s2 * inflation), inflation


def _classify(model: ProfileModel, span, fit_centers: bool, fit_radii: bool, contrast_known: bool):
    free, held = [], []
    for c in model.components:
        f, h = constrained_parameters(c, span, contrast_known=contrast_known)
        if not fit_centers:
            f.discard("center_px")
        if not fit_radii:
            f -= {"radius_px", "inner_radius_px"}
        free.append(f)
        held.append(h)
    return free, held


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
    (e.g. :func:`initial_model` or :func:`model_from_phantom`). Only the parameters the
    segment constrains are freed (:func:`constrained_parameters`, decided on the start and
    again on the result, refitting once if the edges moved on or off the segment); the others
    keep their ``initial`` values, listed in ``FitResult.held`` with the reason and in the
    notes. Radii and centres are in pixels, the offset (rad) is free; ``fit_slope`` adds a
    linear background (rad/px). The material contrast stays at its nominal value unless
    ``fit_contrast`` (one factor on all spheres' δ − δ_medium: the material is uncertain).
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
    nominal = _nominal(nominal_radii_px, initial)
    sk, vk = s[ok], v[ok]
    span = (float(sk.min()), float(sk.max()))
    scale = max(float(np.std(vk)), 1e-12)
    model, cscale, sol, slot_names = initial, 1.0, None, []
    free, held = _classify(initial, span, fit_centers, fit_radii, not fit_contrast)
    used_held = held
    for _ in range(3):
        x0, bounds, unpack, slot_names = _pack(model, free, fit_offset, fit_slope, fit_contrast, span)
        used_held = held
        if not x0.size:
            break

        def residual(p: np.ndarray, unpack=unpack) -> np.ndarray:
            return (unpack(p)[0].evaluate(sk, width_px=width_px, oversample=oversample) - vk) / scale

        # tolerances of 1e-6: radii to ~1e-4 px, far below any goal, at half the evaluations
        sol = least_squares(residual, x0, bounds=bounds, x_scale="jac", ftol=1e-6, xtol=1e-6,
                            loss="soft_l1" if robust else "linear", f_scale=0.1,
                            max_nfev=100 * x0.size)
        model, cscale = unpack(sol.x)
        again, held_again = _classify(model, span, fit_centers, fit_radii, not fit_contrast)
        if again == free:
            break
        free, held = again, held_again
    fitted = model.evaluate(s, width_px=width_px, oversample=oversample)
    metrics = compare_profiles(v, fitted, align_offset=False)
    result = FitResult(
        model=model, initial=initial, distance_px=s, measured=v, fitted=fitted,
        rmse_rad=metrics["rmse_rad"], max_error_rad=metrics["max_error_rad"],
        correlation=metrics["correlation"], nominal_radii_px=nominal, contrast_scale=cscale,
        held=tuple(used_held), success=True if sol is None else bool(sol.success),
        message="nothing to fit" if sol is None else str(sol.message), notes=list(notes),
    )
    _attach_uncertainties(result, sol, slot_names)
    result.notes.extend(_held_notes(model, used_held))
    return result


def _nominal(nominal_radii_px, model: ProfileModel) -> tuple[float | None, ...]:
    if nominal_radii_px is None:
        return tuple(None for _ in model.components)
    nominal = tuple(nominal_radii_px)
    if len(nominal) != len(model.components):
        raise InputError(f"{len(nominal)} nominal radii for {len(model.components)} model components")
    return nominal


def _attach_uncertainties(result: FitResult, sol, slot_names) -> None:
    """Fill the 1σ fields of ``result`` from the solver's Jacobian. The residuals are scaled by
    a constant; it cancels in (JᵀJ)⁻¹·s², so the σ are in the parameters' own units."""
    sig: list[dict[str, float]] = [{} for _ in result.model.components]
    if sol is None:
        result.sigmas = tuple(sig)
        return
    sigmas, result.inflation = _sigmas(sol.jac, sol.fun)
    for (i, name), value in zip(slot_names, sigmas):
        if i >= 0:
            sig[i][name] = float(value)
        elif name == "offset":
            result.offset_sigma_rad = float(value)
        elif name == "slope":
            result.slope_sigma_rad_per_px = float(value)
        else:
            result.contrast_sigma = float(value)
    result.sigmas = tuple(sig)


def _held_notes(model: ProfileModel, held: Sequence[dict[str, str]]) -> list[str]:
    notes = []
    for c, h in zip(model.components, held):
        by_reason: dict[str, list[str]] = {}
        for name, why in h.items():
            by_reason.setdefault(why, []).append(f"{name.removesuffix('_px')} {getattr(c, name):.2f} px")
        for why, items in by_reason.items():
            notes.append(f"held at nominal: {', '.join(items)} ({why})")
    return notes
