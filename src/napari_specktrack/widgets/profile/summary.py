"""The numbers under the Profile dock's plot, as text and table rows (no Qt).

The fit table has one row per fitted component (sphere, cylinder, tube): its centre and
radius in µm with their 1σ, the difference from the nominal radius, and which parameters
were *held* at their nominal values because the line cannot constrain them — with the
reason as the row's tooltip. The text gives the agreement with theory and fit, the
background offset with its 1σ, a fitted contrast factor, and every note.
"""

from __future__ import annotations

from typing import Any

from .compute import ProfileView

TABLE_COLUMNS = ("component", "centre (µm)", "radius (µm)", "Δ nominal", "held")
_SHORT = {"center_px": "centre", "radius_px": "radius", "inner_radius_px": "inner radius"}


def _pm(value: float, sigma: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if sigma is None else f"{value:.{digits}f} ± {sigma:.{digits}f}"


def _agreement(name: str, m: dict[str, Any]) -> str:
    return (f"{name}: RMSE {m['rmse_rad']:.3g} rad, max {m['max_error_rad']:.3g} rad, "
            f"r = {m['correlation']:.4f}")


def component_rows(view: ProfileView | None) -> list[tuple[list[str], str]]:
    """Per fitted component: (cells of :data:`TABLE_COLUMNS`, tooltip with the nominal radius
    and why each held parameter is held). Empty without a fit."""
    curve = None if view is None else view.analysed()
    if curve is None or curve.fit is None:
        return []
    rows = []
    for row in curve.fit.summary(view.pixel_size_m)["components"]:
        held = row["held"]
        tips = [f"{_SHORT.get(k, k)} held at nominal: {why}" for k, why in held.items()]
        versus = "—"
        if row["radius_error_rel"] is not None and row["nominal_radius_px"]:
            versus = f"{100 * row['radius_error_rel']:+.1f} %"
            tips.insert(0, f"nominal radius {row['nominal_radius_px'] * view.pixel_size_m * 1e6:.1f} µm")
        cells = [row["label"] or row["kind"],
                 _pm(row["center_um"], row["center_sigma_um"], 1),
                 _pm(row["radius_um"], row["radius_sigma_um"], 1), versus,
                 ", ".join(_SHORT.get(k, k) for k in held) or "—"]
        rows.append((cells, "\n".join(tips)))
    return rows


def metrics_text(view: ProfileView | None) -> str:
    """Agreement with theory and fit, background and contrast, then the notes (one a line)."""
    if view is None:
        return "Draw a line on an image (New line layer)."
    if view.error is not None:
        return "\n".join([f"⚠ {view.error}", *(f"note: {n}" for n in view.notes)])
    lines = []
    curve = view.analysed()
    if curve is not None and curve.analysis.theory_metrics:
        lines.append(_agreement(f"theory ({curve.image})", curve.analysis.theory_metrics))
    fit = None if curve is None else curve.fit
    if fit is not None:
        s = fit.summary(view.pixel_size_m)
        lines.append(_agreement("fit", s) + f", offset {_pm(s['offset_rad'], s['offset_sigma_rad'], 3)} rad")
        if s["contrast_sigma"] is not None:
            lines.append(f"contrast factor on δ: {_pm(s['contrast_scale'], s['contrast_sigma'], 3)}")
        if s["slope_sigma_rad_per_px"] is not None:
            lines.append(f"background slope: {s['slope_rad_per_px']:.3g} ± "
                         f"{s['slope_sigma_rad_per_px']:.2g} rad/px")
    lines.extend(f"note: {n}" for n in view.all_notes())
    n = len(view.curves())
    return "\n".join(lines) or f"{n} profile{'s' if n != 1 else ''}"


def status_text(view: ProfileView) -> str:
    """One line for the dock's status row."""
    if view.error is not None:
        return "no profile (see above)"
    n = len(view.curves())
    curve = view.analysed()
    what = f"{n} profile{'s' if n != 1 else ''}"
    if curve is not None and curve.fit is not None:
        return f"{what}, fitted ({curve.fit.rmse_rad:.3g} rad RMSE)"
    return f"{what} with theory" if curve is not None else what
