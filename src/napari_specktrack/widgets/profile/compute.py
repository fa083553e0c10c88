"""What the Profile dock computes in its worker: plain arrays in, a :class:`ProfileView` out.

No Qt and no napari here. The dock reads everything on the main thread into a
:class:`ProfileRequest` (arrays, the line in each image's pixels, the geometry, the theory),
and :func:`compute_profiles` turns it into one
:class:`~napari_specktrack.physics.profiles.ProfileSet` per pixel grid — the same core the
``specktrack profile`` command runs — and returns what the plot, the fit table and the CSV
export show. Images on one grid share the line; an image on another grid (a different
scale or translation) gets its own set, profiles only, and is drawn against its own µm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import CancelledError, SpecktrackError
from ...geometry import Geometry
from ...physics.profiles import ProfileImage, ProfileLine, ProfileSet, ProfileSetResult, SphereTheory

Line = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class ImageInput:
    """One image to profile, read from a layer on the main thread.

    ``data`` is a 2-D phase image or a 3-D stack (n, y, x) in rad; ``line`` the line's end
    points (y, x) in this image's pixels; ``frame`` the frame of a stack to profile (ignored
    with time nodes); ``geometry`` gives its pixel size (the µm of the x axis).
    """

    name: str
    data: Any
    line: Line
    geometry: Geometry
    frame: int | None = None


@dataclass(frozen=True)
class TimeNodes:
    """One curve of each stack every ``every_ms`` ms at ``frame_rate_hz`` frames per second,
    from ``start_ms`` to ``stop_ms`` (None: the last frame), as the paper's Fig. 8."""

    frame_rate_hz: float
    every_ms: float
    start_ms: float = 0.0
    stop_ms: float | None = None


@dataclass(frozen=True)
class ProfileRequest:
    """Everything one update computes; the first image gets the theory and the fit."""

    images: tuple[ImageInput, ...]
    theory: SphereTheory | Mapping[str, Any] | None = None
    width_px: int = 1
    fit: bool = False
    fit_slope: bool = False
    fit_contrast: bool = False
    time_nodes: TimeNodes | None = None
    notes: tuple[str, ...] = ()

    def key(self) -> tuple:
        """What the result depends on: requests with equal keys compute equal views (arrays
        compared by identity), so an event that changed nothing need not recompute."""
        images = tuple((im.name, _Same(im.data), np.shape(im.data), im.line, im.geometry, im.frame)
                       for im in self.images)
        return (images, repr(self.theory), self.width_px, self.fit, self.fit_slope,
                self.fit_contrast, self.time_nodes, self.notes)


class _Same:
    """Equal to another ``_Same`` of the very same object (an array is not compared by value)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None  # type: ignore[assignment]


@dataclass
class ProfileView:
    """What one update computed: a :class:`ProfileSetResult` per pixel grid (the first one
    holds the analysed curve), the legend label of every curve, and the notes."""

    results: list[ProfileSetResult]
    labels: list[list[str]]
    notes: list[str] = field(default_factory=list)
    error: str | None = None  #: why nothing could be profiled (the other fields are empty)

    @property
    def pixel_size_m(self) -> float:
        """Object-plane pixel of the first grid, metres."""
        return self.results[0].pixel_size_m

    def analysed(self):
        """The curve that carries the theory (and the fit), or None."""
        if not self.results:
            return None
        return next((c for c in self.results[0].curves if c.theory_rad is not None), None)

    def curves(self) -> list[tuple[str, np.ndarray, float, np.ndarray]]:
        """(label, distance in px, pixel size in m, values in rad) of every curve."""
        return [(label, c.distance_px, r.pixel_size_m, c.values_rad)
                for r, labels in zip(self.results, self.labels)
                for label, c in zip(labels, r.curves)]

    def all_notes(self) -> list[str]:
        """The request's notes, then the analysis notes (each once)."""
        found = [n for r in self.results for c in r.curves for n in c.analysis.notes]
        return list(dict.fromkeys([*self.notes, *found]))

    def table(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """CSV columns as the ``specktrack profile`` command writes them (``<stem>_rad``,
        ``theory_rad``, ``fit_rad``); curves on another pixel grid are interpolated onto the
        first grid's samples, by distance in metres."""
        first = self.results[0]
        distance, columns = first.table()
        at_m = distance * first.pixel_size_m
        for other in self.results[1:]:
            d_other, cols = other.table()
            for name, values in cols.items():
                columns.setdefault(name, np.interp(at_m, d_other * other.pixel_size_m, values,
                                                   left=np.nan, right=np.nan))
        return distance, columns


def curve_label(image: str, time_ms: float | None, n_images: int) -> str:
    """Legend label: the image name, or ``"<t> ms"`` for a time node (prefixed by the image
    name when several images are profiled)."""
    if time_ms is None:
        return image
    return f"{time_ms:g} ms" if n_images == 1 else f"{image} {time_ms:g} ms"


def _profile_image(item: ImageInput, nodes: TimeNodes | None) -> ProfileImage:
    data = item.data
    if np.ndim(data) == 2:
        return ProfileImage(item.name, data)
    if nodes is not None:
        return ProfileImage.time_series(item.name, data, nodes.frame_rate_hz, nodes.every_ms,
                                        start_ms=nodes.start_ms, stop_ms=nodes.stop_ms)
    return ProfileImage(item.name, data, frames=(int(item.frame or 0),))


def _groups(images: tuple[ImageInput, ...]) -> list[list[ImageInput]]:
    """Images that share a line and a geometry (one pixel grid), in order."""
    groups: dict[tuple, list[ImageInput]] = {}
    for item in images:
        key = (tuple(map(tuple, item.line)), item.geometry)
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def _compute_set(group: list[ProfileImage], request: ProfileRequest, first: ImageInput,
                 theory: Any, progress: Callable[[int], None], cancel: Callable[[], bool] | None,
                 notes: list[str]) -> ProfileSetResult:
    """One :class:`ProfileSet`; a theory the line or the inputs refuse is dropped with a note
    (the profiles are still drawn)."""
    line = ProfileLine(*first.line, name="line")

    def run(with_theory: Any) -> ProfileSetResult:
        pset = ProfileSet([line], group, first.geometry, theory=with_theory,
                          width_px=request.width_px, fit=request.fit, fit_slope=request.fit_slope,
                          fit_contrast=request.fit_contrast, analyse="first")
        return pset.compute(progress=lambda done, _total: progress(done), cancel=cancel)

    if theory is None:
        return run(None)
    try:
        return run(theory)
    except CancelledError:
        raise
    except SpecktrackError as exc:
        notes.append(f"⚠ theory: {exc}")
        return run(None)


def compute_profiles(
    request: ProfileRequest,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ProfileView:
    """Sample, compare and fit as ``request`` asks (``progress(done, total)`` per curve;
    :class:`CancelledError` when ``cancel()``). User errors propagate as
    :class:`SpecktrackError`."""
    notes = list(request.notes)
    groups = _groups(request.images)
    if len(groups) > 1:
        notes.append("the images are on different pixel grids: each is sampled on its own, "
                     "the theory compared with the first")
    images = [[_profile_image(item, request.time_nodes) for item in g] for g in groups]
    total = sum(len(im.selections()) for g in images for im in g)
    results: list[ProfileSetResult] = []
    for k, (group, items) in enumerate(zip(groups, images)):
        before = sum(len(r.curves) for r in results)

        def report(done: int, before: int = before) -> None:
            if progress is not None:
                progress(before + done, total)

        theory = request.theory if k == 0 else None
        results.append(_compute_set(items, request, group[0], theory, report, cancel, notes))
    n_images = len(request.images)
    labels = [[curve_label(c.image, c.time_ms, n_images) for c in r.curves] for r in results]
    return ProfileView(results, labels, notes)


def try_compute(request: ProfileRequest, **kwargs: Any) -> ProfileView:
    """:func:`compute_profiles`, with a user error returned as ``ProfileView.error`` (a live
    update while a line is dragged says why in the dock instead of raising a notification)."""
    try:
        return compute_profiles(request, **kwargs)
    except CancelledError:
        raise
    except SpecktrackError as exc:
        return ProfileView([], [], list(request.notes), error=str(exc))
