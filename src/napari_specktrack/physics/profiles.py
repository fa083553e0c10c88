"""Line profiles of phase images against theoretical sphere / cylinder / tube phantoms.

The calibration of Yu et al.'s Fig. 6: draw a line across POM spheres in a retrieved phase
image and compare it with the phase a sphere of known size and refractive index must have;
for dynamic data (their Fig. 8), overlay one line's profile at several time points.

Everything here is a plain function on arrays, shared by the ``specktrack profile`` command,
the Profile dock widget and the docs figure:

- :func:`sample_line` — the measured profile (``skimage.measure.profile_line``, bilinear,
  averaged over ``width_px`` parallel lines) and the distance of each sample along the line;
- :func:`theory_from_phantom` — the exact profile of a known phantom (``phantom.json``) as the
  image would show it: pixel-averaged phase, sampled the same way;
- :func:`initial_model` — starting values for a fit found from the profile itself, for
  ``n`` spheres of a known material (optionally in a tube);
- :func:`fit_profile` — bounded least squares for centres, radii and offset → :class:`FitResult`
  (RMSE, max error, correlation, fitted radius against the nominal one);
- :func:`compare_profiles` — metrics of a measured profile against a theory with no fit;
- :func:`time_nodes` — which frames of a stack to overlay (e.g. every 50 ms);
- :func:`write_profiles_csv`, :func:`plot_profiles` — export and drawing.

Distances along a line are in pixels of the image (the object-plane pixel p/M of the
geometry converts them to metres); phase in radians. Line end points are (y, x) = (row,
column) in pixel coordinates with pixel centres at integers, as ``phantom.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Geometry
from .theory import (
    ProfileComponent,
    ProfileModel,
    _material_contrast,
    _thickness_compact,
    across_offsets_px,
    line_frame,
)

# --- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSamples:
    """Where a profile of a line is sampled.

    Attributes
    ----------
    distance_px
        Distance of each sample from the line's start, pixels; ``n`` = ⌈L + 1⌉ samples from
        the start to the end point inclusive (spacing ≤ 1 px), as ``profile_line``.
    y_px, x_px
        Image coordinates (pixels) of every sample, shape (n, width): ``width`` parallel lines
        1 px apart, centred on the line.
    """

    distance_px: np.ndarray
    y_px: np.ndarray
    x_px: np.ndarray


def line_samples(
    p0_yx_px: Sequence[float], p1_yx_px: Sequence[float], width_px: int = 1
) -> LineSamples:
    """Sample positions of a profile from ``p0`` to ``p1`` (pixels), ``width_px`` wide."""
    p0, e, length = line_frame(p0_yx_px, p1_yx_px)
    n = math.ceil(length + 1)
    t = np.linspace(0.0, length, n)
    across = across_offsets_px(width_px)
    normal = np.array([-e[1], e[0]])
    y = p0[0] + t[:, None] * e[0] + across[None, :] * normal[0]
    x = p0[1] + t[:, None] * e[1] + across[None, :] * normal[1]
    return LineSamples(t, y, x)


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D image (y, x), got shape {arr.shape}; pick one frame of a stack"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def sample_line(
    image: np.ndarray,
    p0_yx_px: Sequence[float],
    p1_yx_px: Sequence[float],
    *,
    width_px: int = 1,
    order: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The profile of ``image`` along a line: (distance along the line in px, values).

    Bilinear interpolation (``order=1``) averaged over ``width_px`` parallel lines 1 px apart
    (``skimage.measure.profile_line``). Samples outside the image's pixels (beyond half a
    pixel from the edge pixel centres, on any of the parallel lines) are NaN, not reflected:
    a profile should not invent data. Fits and metrics skip them.
    """
    from skimage.measure import profile_line

    img = _check_image(image).astype(np.float64, copy=False)
    samples = line_samples(p0_yx_px, p1_yx_px, width_px)
    values = profile_line(
        img, tuple(p0_yx_px), tuple(p1_yx_px), linewidth=int(width_px), order=order,
        mode="nearest", reduce_func=np.mean,
    )
    ny, nx = img.shape
    outside = ((samples.y_px < -0.5) | (samples.y_px > ny - 0.5)
               | (samples.x_px < -0.5) | (samples.x_px > nx - 0.5)).any(axis=1)
    values[outside] = np.nan
    if values.shape[0] != samples.distance_px.shape[0]:  # pragma: no cover - skimage contract
        raise RuntimeError("profile_line returned an unexpected number of samples")
    return samples.distance_px, values


# --- theory of a known phantom ----------------------------------------------------------------


def _pixel_phase(phantom: Mapping[str, Any], geometry: Geometry, iy: np.ndarray, ix: np.ndarray,
                 oversample: int) -> np.ndarray:
    """Pixel-averaged phase (rad) at integer pixels (iy, ix), exactly as ``theory.phase_map``."""
    s = int(oversample)
    sub = (np.arange(s) + 0.5) / s - 0.5
    y = iy[..., None, None] + sub[:, None]
    x = ix[..., None, None] + sub[None, :]
    contrast = _material_contrast(phantom, geometry.energy_keV)
    acc = np.zeros(np.broadcast_shapes(y.shape, x.shape))
    for obj in phantom.get("objects", []):
        d, _ = contrast(obj)
        acc += d * _thickness_compact(obj, y, x)
    phase = -geometry.wavenumber_per_m * geometry.object_pixel_size_m * acc
    return phase.mean(axis=(-2, -1))


def theory_from_phantom(
    phantom: Mapping[str, Any],
    geometry: Geometry,
    p0_yx_px: Sequence[float],
    p1_yx_px: Sequence[float],
    *,
    width_px: int = 1,
    oversample: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact theoretical profile (rad) of a phantom along a line, as the image shows it.

    The phase of every phantom object (any shape of ``phantom.json``) averaged over each
    pixel (``oversample`` × ``oversample`` sub-samples, the definition of the simulator's
    ``truth_phase``), then interpolated bilinearly at the profile's samples and averaged
    over its width — the same operations :func:`sample_line` applies to an image. The
    profile of a truth image therefore equals this to rounding error.

    Returns (distance along the line in px, phase in rad).
    """
    samples = line_samples(p0_yx_px, p1_yx_px, width_px)
    y, x = samples.y_px, samples.x_px
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    out = np.zeros(y.shape)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            w = wy * wx
            used = w > 0
            if np.any(used):
                vals = _pixel_phase(phantom, geometry, (y0 + dy)[used], (x0 + dx)[used], oversample)
                out[used] += w[used] * vals
    return samples.distance_px, out.mean(axis=1)


# --- fitting ----------------------------------------------------------------------------------


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


# --- the whole analysis of one profile --------------------------------------------------------


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
        from .theory import model_from_phantom

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

    from .theory import phase_per_px

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


# --- time nodes -------------------------------------------------------------------------------


def time_nodes(
    n_frames: int,
    frame_rate_hz: float,
    every_ms: float,
    *,
    start_ms: float = 0.0,
    stop_ms: float | None = None,
) -> list[tuple[int, float]]:
    """Frames of a stack to overlay, one every ``every_ms`` milliseconds.

    Frame i is taken at t = i / frame_rate_hz. Returns (frame index, time in ms) pairs for
    t = start, start + every, … ≤ stop (default: the last frame), each rounded to the nearest
    frame, without repeats.
    """
    if n_frames < 1:
        raise InputError("the stack has no frames")
    if not (math.isfinite(frame_rate_hz) and frame_rate_hz > 0):
        raise InputError(f"frame rate must be positive (frames per second), got {frame_rate_hz!r}")
    if not (math.isfinite(every_ms) and every_ms > 0):
        raise InputError(f"time step must be positive (ms), got {every_ms!r}")
    period_ms = 1000.0 / frame_rate_hz
    last_ms = (n_frames - 1) * period_ms
    stop = last_ms if stop_ms is None else min(float(stop_ms), last_ms)
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    t = float(start_ms)
    while t <= stop + 1e-9:
        i = round(t / period_ms)
        if 0 <= i < n_frames and i not in seen:
            seen.add(i)
            out.append((i, i * period_ms))
        t += every_ms
    if not out:
        raise InputError(f"no frame between {start_ms} ms and {stop} ms; check start/stop times")
    return out


# --- export and drawing -----------------------------------------------------------------------


def write_profiles_csv(
    path: str | Path,
    distance_px: np.ndarray,
    columns: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float | None = None,
) -> Path:
    """Write profiles as CSV (atomic): ``distance_px``, ``distance_um`` (when ``pixel_size_m``
    is given), then one column per entry of ``columns`` (name → values, e.g. ``phase_rad``,
    ``theory_rad``). Missing values (outside the image) are written empty."""
    from ..io import write_text_atomic

    d = np.asarray(distance_px, dtype=float)
    header = ["distance_px"]
    cols = [d]
    if pixel_size_m:
        header.append("distance_um")
        cols.append(d * pixel_size_m * 1e6)
    for name, vals in columns.items():
        arr = np.asarray(vals, dtype=float)
        if arr.shape != d.shape:
            raise InputError(f"CSV column {name!r} has {arr.shape[0]} values for {d.shape[0]} distances")
        header.append(str(name).replace(",", ";"))
        cols.append(arr)
    lines = [",".join(header)]
    for row in zip(*cols):
        lines.append(",".join("" if not np.isfinite(x) else f"{x:.9g}" for x in row))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def plot_profiles(
    ax: Any,
    distance_px: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    theory: np.ndarray | None = None,
    fit: np.ndarray | None = None,
    pixel_size_m: float | None = None,
    x_unit: str = "um",
    theory_label: str = "theory",
    fit_label: str = "fit",
    theory_color: str = "k",
) -> None:
    """Draw profiles (rad) on a matplotlib axes: the measured curves, theory (dashed black),
    fit (dotted red). ``x_unit`` "um" uses ``pixel_size_m`` for the x axis, "px" pixels;
    ``theory_color`` suits dark themes (e.g. white)."""
    d = np.asarray(distance_px, dtype=float)
    if x_unit == "um" and pixel_size_m:
        x, xlabel = d * pixel_size_m * 1e6, "distance along line (µm)"
    else:
        x, xlabel = d, "distance along line (px)"
    for label, vals in curves.items():
        ax.plot(x, vals, lw=1.2, label=label)
    if theory is not None:
        ax.plot(x, theory, "--", color=theory_color, lw=1.2, label=theory_label)
    if fit is not None:
        ax.plot(x, fit, "r:", lw=1.5, label=fit_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("phase (rad)")
    if curves or theory is not None or fit is not None:
        ax.legend(fontsize="small", loc="best")
