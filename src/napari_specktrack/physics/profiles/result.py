"""What a profile fit reports: :class:`FitResult` (values, uncertainties, what was held) and
:func:`compare_profiles` (agreement of two profiles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InputError
from .model import ProfileModel

#: Parameters of a component a fit may free, in pixels: centre (distance along the line), radius
#: (a tube's outer radius) and a tube's inner radius.
COMPONENT_PARAMETERS = ("center_px", "radius_px", "inner_radius_px")


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
    contrast_scale, contrast_sigma
        Fitted factor on the spheres' δ contrast (1 unless ``fit_contrast``) and its 1σ.
    sigmas
        Per component, the 1σ uncertainty (px) of each *fitted* parameter (names of
        :data:`COMPONENT_PARAMETERS`); held parameters are absent.
    held
        Per component, parameter name → why the line cannot constrain it (held at the value
        of ``initial``: the nominal one).
    offset_sigma_rad, slope_sigma_rad_per_px
        1σ of the background offset (rad) and slope (rad/px); NaN when not fitted.
    inflation
        Factor (≥ 1) on the covariance for residuals correlated along the line (1 + 2Σρ_k of
        their autocorrelation): a retrieved phase's errors span many samples, so the
        samples are not independent.
    success, message, notes
        From ``scipy.optimize.least_squares``, plus notes from the initial guess and on held
        parameters.
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
    contrast_sigma: float = float("nan")
    sigmas: tuple[dict[str, float], ...] = ()
    held: tuple[dict[str, str], ...] = ()
    offset_sigma_rad: float = float("nan")
    slope_sigma_rad_per_px: float = float("nan")
    inflation: float = 1.0
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

    def sigma(self, index: int, name: str) -> float | None:
        """1σ (px) of parameter ``name`` of component ``index``; None if it was held."""
        if index >= len(self.sigmas):
            return None
        return self.sigmas[index].get(name)

    def radius_errors_rel(self) -> tuple[float | None, ...]:
        """(fitted − nominal) / nominal for each component with a nominal radius (None where
        there is none, or where the radius was held)."""
        held = self.held or ({},) * len(self.model.components)
        return tuple(
            None if nom is None or nom == 0 or "radius_px" in h else (c.radius_px - nom) / nom
            for c, nom, h in zip(self.model.components, self.nominal_radii_px, held)
        )

    def _row(self, i: int, nominal: float | None, err: float | None,
             pixel_size_m: float | None) -> dict[str, Any]:
        c = self.model.components[i]
        row: dict[str, Any] = {"kind": c.kind, "label": c.label}
        names = COMPONENT_PARAMETERS if c.kind == "tube" else COMPONENT_PARAMETERS[:2]
        for name in names:
            row[name] = getattr(c, name)
            row[name.replace("_px", "_sigma_px")] = self.sigma(i, name)
        held = dict(self.held[i]) if i < len(self.held) else {}
        row["nominal_radius_px"] = None if "radius_px" in held else nominal
        row["radius_error_rel"] = err
        if c.kind == "sphere":
            row["line_offset_px"] = c.offset_px
        row["held"] = held
        if pixel_size_m:
            um = pixel_size_m * 1e6
            for name in names:
                row[name.replace("_px", "_um")] = getattr(c, name) * um
                sig = self.sigma(i, name)
                row[name.replace("_px", "_sigma_um")] = None if sig is None else sig * um
        return row

    def summary(self, pixel_size_m: float | None = None) -> dict[str, Any]:
        """A JSON-ready report: metrics, background, and per component its centre, radius (and
        a tube's inner radius) with 1σ uncertainties in px (and µm with ``pixel_size_m``), the
        parameters held because the line cannot constrain them (with the reason), and the
        nominal radius with the relative difference — None where the radius was held (it is
        then the nominal one)."""
        nominal = self.nominal_radii_px or (None,) * len(self.model.components)
        comps = [self._row(i, nom, err, pixel_size_m)
                 for i, (nom, err) in enumerate(zip(nominal, self.radius_errors_rel()))]
        return {
            "rmse_rad": self.rmse_rad, "max_error_rad": self.max_error_rad,
            "correlation": self.correlation, "offset_rad": self.model.offset_rad,
            "offset_sigma_rad": _finite_or_none(self.offset_sigma_rad),
            "slope_rad_per_px": self.model.slope_rad_per_px,
            "slope_sigma_rad_per_px": _finite_or_none(self.slope_sigma_rad_per_px),
            "contrast_scale": self.contrast_scale,
            "contrast_sigma": _finite_or_none(self.contrast_sigma),
            "uncertainty_inflation": self.inflation, "success": self.success,
            "message": self.message, "notes": list(self.notes), "components": comps,
        }


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


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
