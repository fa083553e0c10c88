"""A profile set: lines drawn on phase images, the theory they are compared with, and one call
that computes every sampled curve, theory curve and fit — the core the ``specktrack profile``
command and the Profile dock share (no Qt; cheap enough to re-run in a worker as a line moves).

    result = ProfileSet([((128, 0), (128, 255))], {"phase": phase}, geometry,
                        theory=SphereTheory("POM", 1.3e-4, n_spheres=2)).compute()
    result.report()                     # JSON-ready
    distance_px, columns = result.table()   # CSV-ready (result.write_csv(path))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ...errors import CancelledError, InputError
from ...geometry import Geometry
from ..theory import SHAPES
from .analysis import ProfileAnalysis, analyse_profile
from .model import line_frame
from .sampling import check_image, line_samples, sample_line, time_nodes
from .spec import SphereTheory, one_line

ANALYSE_SCOPES = ("all", "first", "none")


@dataclass(frozen=True)
class ProfileLine:
    """A line to profile: end points (y, x) = (row, column) in pixels of the images (pixel
    centres at integers), and a name for reports."""

    start_yx_px: tuple[float, float]
    end_yx_px: tuple[float, float]
    name: str = "line 1"

    @property
    def length_px(self) -> float:
        return line_frame(self.start_yx_px, self.end_yx_px)[2]


@dataclass(frozen=True)
class ProfileImage:
    """A phase image (rad) to profile: ``data`` (y, x), or a stack (n, y, x) with the
    ``frames`` to use (indices) and optionally their ``times_ms`` (milliseconds)."""

    name: str
    data: np.ndarray
    frames: tuple[int, ...] | None = None
    times_ms: tuple[float, ...] | None = None

    @classmethod
    def time_series(cls, name: str, stack: np.ndarray, frame_rate_hz: float, every_ms: float, *,
                    start_ms: float = 0.0, stop_ms: float | None = None) -> ProfileImage:
        """One frame of ``stack`` every ``every_ms`` ms at ``frame_rate_hz`` (:func:`time_nodes`)."""
        if np.ndim(stack) != 3:
            raise InputError(f"image {name!r}: a time series needs a stack (n, y, x), got shape "
                             f"{np.shape(stack)}")
        nodes = time_nodes(np.shape(stack)[0], frame_rate_hz, every_ms, start_ms=start_ms, stop_ms=stop_ms)
        return cls(name, stack, tuple(i for i, _ in nodes), tuple(t for _, t in nodes))

    def selections(self) -> list[tuple[int | None, float | None]]:
        """(frame index or None for a 2-D image, time in ms or None) of each curve."""
        if self.frames is None:
            return [(None, None)]
        times = self.times_ms or (None,) * len(self.frames)
        return list(zip(self.frames, times))


@dataclass
class ProfileCurve:
    """One sampled profile (a line on one image or frame) with its theory and fit."""

    line: str
    image: str
    frame: int | None
    time_ms: float | None
    analysis: ProfileAnalysis
    stem: str = ""

    @property
    def distance_px(self) -> np.ndarray:
        return self.analysis.distance_px

    @property
    def values_rad(self) -> np.ndarray:
        return self.analysis.measured

    @property
    def theory_rad(self) -> np.ndarray | None:
        return self.analysis.theory

    @property
    def fit(self):
        return self.analysis.fit

    def report(self) -> dict[str, Any]:
        return {"line": self.line, "image": self.image, "frame": self.frame, "time_ms": self.time_ms,
                "column": f"{self.stem}_rad", **self.analysis.report()}


LineSpec = Union[ProfileLine, tuple[Sequence[float], Sequence[float]]]
TheorySpec = Union[SphereTheory, Mapping[str, Any], None]


@dataclass
class ProfileSetResult:
    """Everything a :class:`ProfileSet` computed: the curves, in the order lines × images ×
    frames, and the set's notes."""

    lines: tuple[ProfileLine, ...]
    curves: list[ProfileCurve]
    geometry: Geometry
    width_px: int
    theory: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def pixel_size_m(self) -> float:
        return self.geometry.object_pixel_size_m

    def curves_on(self, line: str | None = None) -> list[ProfileCurve]:
        """The curves of the line named ``line`` (default: the first line)."""
        name = self.lines[0].name if line is None else line
        found = [c for c in self.curves if c.line == name]
        if not found:
            raise InputError(f"no line named {name!r}; lines: {[ln.name for ln in self.lines]}")
        return found

    def table(self, line: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """CSV-ready columns of one line: (distance in px, {name: values in rad}): every curve
        as ``<stem>_rad``, then ``theory_rad`` and ``fit_rad`` — per curve
        (``<stem>_theory_rad``…) when several curves were analysed."""
        curves = self.curves_on(line)
        columns = {f"{c.stem}_rad": c.values_rad for c in curves}
        with_theory = [c for c in curves if c.theory_rad is not None]
        shared = self.theory is not None and self.theory.get("kind") == "phantom"
        for c in with_theory:
            key = "theory_rad" if shared or len(with_theory) == 1 else f"{c.stem}_theory_rad"
            columns.setdefault(key, c.theory_rad)
        fitted = [c for c in curves if c.fit is not None]
        for c in fitted:
            columns["fit_rad" if len(fitted) == 1 else f"{c.stem}_fit_rad"] = c.fit.fitted
        return curves[0].distance_px, columns

    def write_csv(self, path, line: str | None = None):
        """Write :meth:`table` as CSV (distance in px and µm first); returns the path."""
        from .export import write_profiles_csv

        distance, columns = self.table(line)
        return write_profiles_csv(path, distance, columns, pixel_size_m=self.pixel_size_m)

    def report(self) -> dict[str, Any]:
        """JSON-ready: geometry, width, theory, lines (px and µm) and every curve's report."""
        um = self.pixel_size_m * 1e6
        lines = [{"name": ln.name, "start_yx_px": list(ln.start_yx_px), "end_yx_px": list(ln.end_yx_px),
                  "length_px": ln.length_px, "length_um": ln.length_px * um} for ln in self.lines]
        return {"geometry": self.geometry.to_dict(), "pixel_size_m": self.pixel_size_m,
                "width_px": self.width_px, "theory": self.theory, "lines": lines,
                "curves": [c.report() for c in self.curves], "notes": list(self.notes)}

    def plot(self, ax: Any, line: str | None = None, *, x_unit: str = "um",
             theory_color: str = "k") -> None:
        """Draw one line's curves on a matplotlib axes, with the first analysed curve's
        theory (dashed) and fit (dotted)."""
        from .export import plot_profiles

        curves = self.curves_on(line)
        first = next((c for c in curves if c.theory_rad is not None), None)
        plot_profiles(ax, curves[0].distance_px, {c.stem: c.values_rad for c in curves},
                      theory=None if first is None else first.theory_rad,
                      fit=None if first is None or first.fit is None else first.fit.fitted,
                      pixel_size_m=self.pixel_size_m, x_unit=x_unit, theory_color=theory_color)


def _lines(lines: Sequence[LineSpec]) -> tuple[ProfileLine, ...]:
    out = []
    for k, item in enumerate(lines):
        if not isinstance(item, ProfileLine):
            try:
                p0, p1 = item
                item = ProfileLine((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1])),
                                   f"line {k + 1}")
            except (TypeError, ValueError, IndexError) as exc:
                raise InputError(f"line {k + 1} must be ((y0, x0), (y1, x1)) in pixels, "
                                 f"got {item!r}") from exc
        line_frame(item.start_yx_px, item.end_yx_px)  # refuses lines shorter than 2 px
        out.append(item)
    if not out:
        raise InputError("no line to profile; draw a line on the image")
    if len({ln.name for ln in out}) != len(out):
        raise InputError(f"line names must differ, got {[ln.name for ln in out]}")
    return tuple(out)


def _images(images: Mapping[str, np.ndarray] | Sequence[ProfileImage]) -> tuple[ProfileImage, ...]:
    items = ([ProfileImage(str(k), v) for k, v in images.items()] if isinstance(images, Mapping)
             else list(images))
    if not items:
        raise InputError("no phase image to profile")
    for im in items:
        arr = np.asarray(im.data)
        if arr.ndim == 2:
            if im.frames is not None:
                raise InputError(f"image {im.name!r} is 2-D: give no frames")
            check_image(arr, f"image {im.name!r}")
            continue
        if arr.ndim != 3 or im.frames is None:
            raise InputError(f"image {im.name!r} has shape {arr.shape}: give a 2-D image, or a stack "
                             "(n, y, x) with the frames to profile (ProfileImage(name, stack, frames))")
        check_image(arr[0], f"image {im.name!r}")
        bad = [i for i in im.frames if not 0 <= int(i) < arr.shape[0]]
        if bad or not im.frames:
            raise InputError(f"image {im.name!r}: frames {bad or '()'} are outside its "
                             f"{arr.shape[0]} frames (0–{arr.shape[0] - 1})")
        if im.times_ms is not None and len(im.times_ms) != len(im.frames):
            raise InputError(f"image {im.name!r}: {len(im.times_ms)} times for {len(im.frames)} frames")
    if len({im.name for im in items}) != len(items):
        raise InputError(f"image names must differ, got {[im.name for im in items]}")
    return tuple(items)


def _check_phantom(phantom: Mapping[str, Any]) -> dict[str, Any]:
    objects = phantom.get("objects") if isinstance(phantom, Mapping) else None
    if not isinstance(objects, list):
        raise InputError("phantom must be a phantom.json mapping with a list of 'objects'")
    for i, obj in enumerate(objects):
        if not isinstance(obj, Mapping) or obj.get("shape") not in SHAPES or "material" not in obj:
            raise InputError(f"phantom object {i} needs a 'shape' (one of {SHAPES}) and a 'material'")
    return {"kind": "phantom", "n_objects": len(objects), "medium": phantom.get("medium", "air")}


def _check_materials(phantom: Mapping[str, Any], geometry: Geometry) -> None:
    from ...errors import MaterialError
    from ..materials import optical_constants

    named = [("phantom medium", phantom.get("medium", "air"))]
    named += [(f"phantom object {i} material", o["material"]) for i, o in enumerate(phantom["objects"])]
    for what, material in named:
        try:
            optical_constants(material, geometry.energy_keV)
        except MaterialError as exc:
            raise InputError(f"{what} {material!r}: {one_line(exc)}") from exc


class ProfileSet:
    """Lines on phase images against a theory: construct from plain arrays, then :meth:`compute`.

    Parameters
    ----------
    lines
        :class:`ProfileLine` or ((y0, x0), (y1, x1)) end points in pixels, at least 2 px long.
    images
        name → 2-D phase image (rad), or :class:`ProfileImage` items (stacks with frames or
        time nodes). All share one pixel grid: the geometry's object-plane pixel p/M.
    geometry
        Energy and pixel size: the theory's phase per pixel and the µm of the reports.
    theory
        A :class:`SphereTheory` (material, nominal radius, spheres crossed, optional tube), a
        ``phantom.json`` mapping (the exact theory of a simulation), or None (profiles only).
    width_px
        Parallel lines 1 px apart averaged into each profile.
    fit, fit_slope, fit_contrast, robust
        Fit centres and radii (else theory only); also a linear background; also one factor on
        the spheres' δ (recommended on a retrieved phase, which underestimates the contrast);
        a soft-L1 loss.
    analyse
        Which curves get theory and fit: ``"all"``, ``"first"`` (the first curve of each
        line) or ``"none"``.

    Everything is validated here, before any computation; errors are :class:`InputError`
    naming the input and the fix.
    """

    def __init__(
        self,
        lines: Sequence[LineSpec],
        images: Mapping[str, np.ndarray] | Sequence[ProfileImage],
        geometry: Geometry,
        *,
        theory: TheorySpec = None,
        width_px: int = 1,
        fit: bool = True,
        fit_slope: bool = False,
        fit_contrast: bool = False,
        robust: bool = False,
        analyse: str = "all",
    ) -> None:
        if not isinstance(geometry, Geometry):
            raise InputError("geometry is missing or not a Geometry; load one with Geometry.from_json")
        self.geometry = geometry
        self.lines = _lines(lines)
        self.images = _images(images)
        shapes = [np.shape(im.data)[-2:] for im in self.images]
        if not (isinstance(width_px, (int, np.integer)) and 1 <= width_px <= min(min(s) for s in shapes)):
            raise InputError(f"profile width must be a whole number of pixels from 1 to the image size, "
                             f"got {width_px!r}")
        self.width_px = int(width_px)
        if analyse not in ANALYSE_SCOPES:
            raise InputError(f"analyse must be one of {ANALYSE_SCOPES}, got {analyse!r}")
        self.analyse = analyse
        self.options = {"fit": bool(fit), "fit_slope": bool(fit_slope),
                        "fit_contrast": bool(fit_contrast), "robust": bool(robust)}
        self.field_shape = max(shapes, key=lambda s: math.hypot(*s))
        self._check_lines_inside(shapes)
        self.theory = theory
        self.theory_info = self._check_theory(theory)

    def _check_lines_inside(self, shapes) -> None:
        for ln in self.lines:
            samples = line_samples(ln.start_yx_px, ln.end_yx_px, self.width_px)
            for im, (ny, nx) in zip(self.images, shapes):
                inside = ((samples.y_px >= -0.5) & (samples.y_px <= ny - 0.5)
                          & (samples.x_px >= -0.5) & (samples.x_px <= nx - 0.5)).all(axis=1)
                if inside.sum() < 2:
                    raise InputError(f"{ln.name} from {ln.start_yx_px} to {ln.end_yx_px} px lies outside "
                                     f"image {im.name!r} ({ny} × {nx} px); draw it on the image")

    def _check_theory(self, theory: TheorySpec) -> dict[str, Any] | None:
        if theory is None:
            return None
        if isinstance(theory, SphereTheory):
            theory.in_pixels(self.geometry, field_px=math.hypot(*self.field_shape))
            return theory.to_dict()
        if isinstance(theory, Mapping):
            info = _check_phantom(theory)
            _check_materials(theory, self.geometry)
            return info
        raise InputError(f"theory must be a SphereTheory, a phantom.json mapping or None, got "
                         f"{type(theory).__name__}")

    def _selections(self) -> list[tuple[ProfileLine, ProfileImage, int | None, float | None]]:
        return [(ln, im, f, t) for ln in self.lines for im in self.images for f, t in im.selections()]

    @staticmethod
    def _stem(im: ProfileImage, frame: int | None, time_ms: float | None) -> str:
        if time_ms is not None:
            return f"{im.name}_t{time_ms:g}ms"
        if frame is not None and len(im.frames or ()) > 1:
            return f"{im.name}_frame{frame}"
        return im.name

    def compute(
        self,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> ProfileSetResult:
        """Sample every line on every image/frame, and add theory and fit where asked
        (``progress(done, total)`` after each curve; :class:`CancelledError` if ``cancel()``)."""
        todo = self._selections()
        curves: list[ProfileCurve] = []
        analysed_lines: set[str] = set()
        for k, (ln, im, frame, t_ms) in enumerate(todo):
            if cancel is not None and cancel():
                raise CancelledError(f"profiles cancelled after {k} of {len(todo)} curve(s)")
            data = np.asarray(im.data if frame is None else im.data[frame])
            d, v = sample_line(data, ln.start_yx_px, ln.end_yx_px, width_px=self.width_px)
            wanted = self.analyse == "all" or (self.analyse == "first" and ln.name not in analysed_lines)
            theory = self.theory if wanted else None
            analysis = analyse_profile(
                d, v, self.geometry, width_px=self.width_px, image_shape=data.shape,
                theory=theory if isinstance(theory, SphereTheory) else None,
                phantom=theory if isinstance(theory, Mapping) else None,
                line=(ln.start_yx_px, ln.end_yx_px), **self.options)
            analysed_lines.add(ln.name)
            curves.append(ProfileCurve(ln.name, im.name, frame, t_ms, analysis, self._stem(im, frame, t_ms)))
            if progress is not None:
                progress(k + 1, len(todo))
        return ProfileSetResult(self.lines, curves, self.geometry, self.width_px, self.theory_info)
