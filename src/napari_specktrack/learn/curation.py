"""Curation of measured training pairs: sources, crop boxes, flags (Qt-free; the dock drives it).

A :class:`CurationSession` holds the sources of one set of pairs in a
:class:`~napari_specktrack.pipeline.Frames`: the reference (an image or a stack, averaged),
the sample speckle stack and the matching in-line stack (frame i ↔ frame i), optional dark
and flat (calibration ``(I − dark)/(flat − dark)``). For frame i it gives

* the **input** ``sample_i − reference`` and the **target** ``inline_i`` in the network's
  units (flat-field units, as :func:`~.inference.generate_inline` and
  :func:`~.pairs.normalise_input` take them; without a flat, raw counts — a reference mean
  outside :data:`FLAT_FIELD_MEAN_RANGE` — are divided by the mean of the reference, so the
  open beam is ≈ 1 as well);
* the target's mis-registration (:meth:`~CurationSession.measure_shift`, see
  :mod:`.registration`) and an optional correction (:meth:`~CurationSession.set_shift`);
* crops: the same box ``(y0, x0, h, w)`` (pixels) cuts input, target and reference;
* flags of a crop (:data:`FLAG_RULES`).

The review state (accept, reject, undo …) and the export live in :mod:`.review`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..pipeline.frames import MIN_SPECKLE_MATCH, SCALE_RATIO_RANGE, Frames, speckle_match
from ..provenance import array_input
from .registration import apply_shift, measure_shift

#: the network's input size (H, W) in pixels, as Yu et al. crop it
DEFAULT_CROP_YX_PX = (1024, 512)
#: crop sides must be a multiple of 2^n_downsampling of the generator: 16 for the paper
#: preset (4 down-samplings), 8 for lite (3)
NETWORK_MULTIPLE = 16
#: without a flat, images whose reference mean lies in this range are taken as flat-field
#: normalised already; others (raw counts) are divided by the reference's mean
FLAT_FIELD_MEAN_RANGE = (0.5, 2.0)
#: a raw pixel at or above this fraction of its integer dtype's maximum is saturated
SATURATION_FRACTION = 0.98
#: a crop whose in-line image, smoothed by a 2-px Gaussian, varies less than this (std/mean)
#: holds no sample: photon noise of 1e4 counts gives ≈ 0.0015, a sample edge ≥ 0.02
EMPTY_CONTRAST = 0.005
_EMPTY_SIGMA_PX = 2.0

#: flag name → the rule that sets it (shown by the dock)
FLAG_RULES = {
    "edge": "the box touches the frame edge (within the applied shift, rounded up, when the "
            "target was shift-corrected: that band is reflected content)",
    "saturated": f"a raw sample or in-line pixel in the box ≥ {SATURATION_FRACTION} × its "
                 f"integer dtype's maximum (or ≥ the given saturation level)",
    "dead": "a raw sample or in-line pixel in the box is 0 or NaN/inf, or ≤ 0 after "
            "dark/flat correction",
    "empty": f"no sample in the box: the in-line image smoothed by a {_EMPTY_SIGMA_PX:g}-px "
             f"Gaussian varies by less than {EMPTY_CONTRAST} (std/mean)",
    "no_speckle": f"the frame's sample shows no speckle of the reference (match < "
                  f"{MIN_SPECKLE_MATCH}): membrane out of the beam?",
}
FLAGS = tuple(FLAG_RULES)


@dataclass(frozen=True)
class Box:
    """A crop box in pixels of the frame: top-left (y0, x0), height h, width w."""

    y0: int
    x0: int
    h: int
    w: int

    def as_list(self) -> list[int]:
        return [self.y0, self.x0, self.h, self.w]

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.h), slice(self.x0, self.x0 + self.w)


def check_crop(crop_yx_px: Sequence[int], shape_yx: Sequence[int] | None = None, *,
               multiple: int = NETWORK_MULTIPLE, flag: str = "--crop") -> tuple[int, int]:
    """(h, w) if the crop size is valid: positive, a multiple of ``multiple``, within the
    frame; else :class:`InputError` naming the fix."""
    try:
        h, w = (int(c) for c in crop_yx_px)
    except (TypeError, ValueError):
        raise InputError(f"{flag} {crop_yx_px!r} must be two integers H W (pixels)") from None
    if h <= 0 or w <= 0:
        raise InputError(f"{flag} {h} {w}: both sides must be positive pixels (default "
                         f"{DEFAULT_CROP_YX_PX[0]} {DEFAULT_CROP_YX_PX[1]})")
    if multiple > 1 and (h % multiple or w % multiple):
        near = [max(multiple, round(v / multiple) * multiple) for v in (h, w)]
        fix = f"{near[0]} {near[1]}"
        raise InputError(f"{flag} {h} {w}: both sides must be multiples of {multiple} (the "
                         f"generator halves the image log2({multiple}) times); use e.g. {fix}")
    if shape_yx is not None and (h > shape_yx[0] or w > shape_yx[1]):
        raise InputError(f"{flag} {h} {w} is larger than the {shape_yx[0]}×{shape_yx[1]} px "
                         f"frames; choose a smaller crop")
    return h, w


class CurationSession:
    """The sources of a pair set and everything computed per frame (see module docstring).

    Parameters
    ----------
    frames
        :class:`~napari_specktrack.pipeline.Frames` with ``inline`` set (same shape as the
        sample). Checked once here: shapes, dtypes, calibration, the reference's speckle.
        Per-frame problems of the sample (dead pixels, no speckle) become crop flags.
    crop_yx_px
        The crop size (h, w) in pixels, a multiple of ``multiple``.
    inputs
        Provenance inputs by role (``provenance.file_input`` of each file, or
        ``layer_input``), recorded as each pair's ``source``.
    saturation_level
        Raw value (counts) at or above which a pixel is saturated; default
        :data:`SATURATION_FRACTION` × the integer dtype's maximum (none for float frames).
    cache_frames
        How many frames' images are kept in memory (navigation back and forth).
    """

    def __init__(self, frames: Frames, *, crop_yx_px: Sequence[int] = DEFAULT_CROP_YX_PX,
                 multiple: int = NETWORK_MULTIPLE, inputs: dict[str, Any] | None = None,
                 geometry: Any = None, saturation_level: float | None = None,
                 cache_frames: int = 3) -> None:
        if frames.inline is None:
            raise InputError("curation needs the in-line stack (--inline): the targets are the "
                             "in-line frames matching the sample frames")
        # in curation a bad pixel flags the crops that hold it instead of refusing the stack
        frames.validate(need_inline=True, probe_samples=False)
        self.frames = frames
        self.shape_yx = frames.shape_yx
        self.multiple = int(multiple)
        self.crop_yx_px = check_crop(crop_yx_px, self.shape_yx, multiple=self.multiple)
        self.geometry = geometry
        self.inputs = dict(inputs) if inputs else {
            "sample": array_input(np.shape(frames.sample)),
            "reference": array_input(np.shape(frames.reference)),
            "inline": array_input(np.shape(frames.inline))}
        self.saturation_level = saturation_level
        ref = frames.reference_image()
        lo, hi = FLAT_FIELD_MEAN_RANGE
        flat_fielded = frames.flat is not None or lo <= float(ref.mean()) <= hi
        self.intensity_scale = 1.0 if flat_fielded else float(1.0 / ref.mean())
        self.units = ("flat-field: (I − dark)/(flat − dark)" if frames.flat is not None else
                      "flat-field (given so)" if flat_fielded else
                      "calibrated counts / mean of the reference (≈ flat-field)")
        self.reference = (ref * self.intensity_scale).astype(np.float32)
        self._shifts: dict[int, tuple[float, float]] = {}
        self._measured: dict[int, np.ndarray] = {}
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_size = max(1, int(cache_frames))

    @property
    def n_frames(self) -> int:
        return self.frames.n_frames

    def check_frame(self, frame: int) -> int:
        if not (isinstance(frame, (int, np.integer)) and 0 <= frame < self.n_frames):
            raise InputError(f"frame {frame!r} is not in the stack of {self.n_frames} frame(s)")
        return int(frame)

    # --- per-frame images ------------------------------------------------------------------------
    def _frame(self, frame: int) -> dict[str, Any]:
        frame = self.check_frame(frame)
        if frame in self._cache:
            self._cache.move_to_end(frame)
            return self._cache[frame]
        f = self.frames
        s = f.sample_frame(frame) * self.intensity_scale
        t = f.inline_frame(frame) * self.intensity_scale
        entry = {"sample": s.astype(np.float32), "inline": t.astype(np.float32),
                 "input": (s - self.reference).astype(np.float32)}
        _check_scale(frame, s, self.reference, t)
        self._cache[frame] = entry
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def input_frame(self, frame: int) -> np.ndarray:
        """Network input of frame ``frame``: sample − reference, float32, flat-field units."""
        return self._frame(frame)["input"]

    def target_frame(self, frame: int) -> np.ndarray:
        """Target of frame ``frame``: the in-line frame, shift-corrected when set (float32)."""
        entry = self._frame(frame)
        shift = self._shifts.get(int(frame))
        if shift is None:
            return entry["inline"]
        if entry.get("shifted_by") != shift:
            entry["shifted"], entry["shifted_by"] = apply_shift(entry["inline"], shift), shift
            entry.pop("smooth", None)
        return entry["shifted"]

    def _raw(self, frame: int, box: Box) -> list[np.ndarray]:
        f = self.frames
        ys, xs = box.slices
        inline = f.inline[frame] if np.ndim(f.inline) == 3 else f.inline
        sample = f.sample[frame] if f.is_stack else f.sample
        return [np.asarray(sample[ys, xs]), np.asarray(inline[ys, xs])]

    # --- registration ---------------------------------------------------------------------------
    def measure_shift(self, frame: int) -> np.ndarray:
        """Measured (dy, dx) in pixels that registers frame ``frame``'s in-line image onto its
        input (cached); apply with :meth:`set_shift`."""
        frame = self.check_frame(frame)
        if frame not in self._measured:
            entry = self._frame(frame)
            self._measured[frame] = measure_shift(_filled(entry["input"]), _filled(entry["inline"]))
        return self._measured[frame].copy()

    def measured(self, frame: int) -> np.ndarray | None:
        """The shift measured so far for frame ``frame`` (pixels), or None (nothing computed)."""
        m = self._measured.get(int(frame))
        return None if m is None else m.copy()

    def set_shift(self, frame: int, shift_yx_px: Sequence[float] | None) -> None:
        """Correct frame ``frame``'s target by ``shift_yx_px`` (pixels), or undo with None."""
        frame = self.check_frame(frame)
        if shift_yx_px is None or not np.any(np.asarray(shift_yx_px, float)):
            self._shifts.pop(frame, None)
            return
        dy, dx = (float(v) for v in shift_yx_px)
        if not (math.isfinite(dy) and math.isfinite(dx)):
            raise InputError(f"frame {frame}: shift {shift_yx_px!r} must be finite pixels")
        self._shifts[frame] = (dy, dx)

    def shift_of(self, frame: int) -> tuple[float, float] | None:
        """The correction applied to frame ``frame``'s target (pixels), or None."""
        return self._shifts.get(int(frame))

    # --- boxes ----------------------------------------------------------------------------------
    def box(self, y0: int, x0: int) -> Box:
        """The crop box at (y0, x0), checked to lie inside the frame."""
        h, w = self.crop_yx_px
        ny, nx = self.shape_yx
        y0, x0 = round(float(y0)), round(float(x0))
        if not (0 <= y0 <= ny - h and 0 <= x0 <= nx - w):
            raise InputError(f"a {h}×{w} px box at (y0={y0}, x0={x0}) leaves the {ny}×{nx} px "
                             f"frame; keep 0 ≤ y0 ≤ {ny - h} and 0 ≤ x0 ≤ {nx - w}")
        return Box(y0, x0, h, w)

    def clamp_box(self, y0: float, x0: float) -> Box:
        """The crop box nearest (y0, x0) that lies inside the frame (for dragging)."""
        h, w = self.crop_yx_px
        ny, nx = self.shape_yx
        return Box(min(max(round(float(y0)), 0), ny - h), min(max(round(float(x0)), 0), nx - w), h, w)

    def random_boxes(self, n: int, *, seed: int = 0, frame: int = 0) -> list[Box]:
        """``n`` boxes at uniform random positions, reproducible from (seed, frame)."""
        if int(n) < 1:
            raise InputError(f"--random {n}: the number of crops per frame must be ≥ 1")
        h, w = self.crop_yx_px
        ny, nx = self.shape_yx
        rng = np.random.default_rng([int(seed), int(frame)])
        ys = rng.integers(0, ny - h + 1, size=int(n))
        xs = rng.integers(0, nx - w + 1, size=int(n))
        return [Box(int(y), int(x), h, w) for y, x in zip(ys, xs, strict=True)]

    def grid_boxes(self) -> list[Box]:
        """Non-overlapping boxes on a regular grid, centred in the frame (row-major)."""
        h, w = self.crop_yx_px
        ny, nx = self.shape_yx
        my, mx = ny // h, nx // w
        oy, ox = (ny - my * h) // 2, (nx - mx * w) // 2
        return [Box(oy + i * h, ox + j * w, h, w) for i in range(my) for j in range(mx)]

    # --- crops and flags ------------------------------------------------------------------------
    def crop(self, frame: int, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input, target, reference) cut at ``box`` from frame ``frame`` (float32 copies)."""
        ys, xs = box.slices
        return (self.input_frame(frame)[ys, xs].copy(), self.target_frame(frame)[ys, xs].copy(),
                self.reference[ys, xs].copy())

    def flags(self, frame: int, box: Box) -> tuple[str, ...]:
        """The :data:`FLAG_RULES` that hold for the crop ``box`` of frame ``frame``."""
        frame = self.check_frame(frame)
        entry = self._frame(frame)
        ys, xs = box.slices
        found = []
        shift = self._shifts.get(frame)
        margin = max(1, math.ceil(max(abs(shift[0]), abs(shift[1])))) if shift else 1
        ny, nx = self.shape_yx
        if min(box.y0, box.x0, ny - box.y0 - box.h, nx - box.x0 - box.w) < margin:
            found.append("edge")
        raw = self._raw(frame, box)
        level = self._saturation_level(raw[0].dtype)
        if level is not None and any(bool((r >= level).any()) for r in raw):
            found.append("saturated")
        calibrated = (entry["sample"][ys, xs], entry["inline"][ys, xs])
        if any(bool((r == 0).any() or not np.isfinite(r).all()) for r in raw) or any(
                bool(not np.isfinite(c).all() or (c <= 0).any()) for c in calibrated):
            found.append("dead")
        if self._contrast(frame, box) < EMPTY_CONTRAST:
            found.append("empty")
        if self._speckle_match(frame) < MIN_SPECKLE_MATCH:
            found.append("no_speckle")
        return tuple(found)

    def _saturation_level(self, dtype: np.dtype) -> float | None:
        if self.saturation_level is not None:
            return float(self.saturation_level)
        if np.dtype(dtype).kind in "ui":
            return SATURATION_FRACTION * float(np.iinfo(dtype).max)
        return None

    def _contrast(self, frame: int, box: Box) -> float:
        from scipy.ndimage import gaussian_filter

        entry = self._frame(frame)
        if "smooth" not in entry:
            t = np.nan_to_num(self.target_frame(frame))
            entry["smooth"] = gaussian_filter(t, _EMPTY_SIGMA_PX, mode="reflect")
        part = entry["smooth"][box.slices]
        mean = float(np.abs(part.mean()))
        return float(part.std() / mean) if mean > 0 else 0.0

    def _speckle_match(self, frame: int) -> float:
        entry = self._frame(frame)
        if "match" not in entry:
            s = np.nan_to_num(entry["sample"])
            entry["match"] = speckle_match(s, self.reference)
        return float(entry["match"])

    def source(self, frame: int) -> dict[str, Any]:
        """The ``source`` record of a pair cut from frame ``frame``."""
        return {**self.inputs, "intensity_scale": self.intensity_scale, "units": self.units}

    def frames_of(self, frames: Iterable[int] | None = None) -> list[int]:
        """Checked frame indices (default all)."""
        return list(range(self.n_frames)) if frames is None else [self.check_frame(int(i))
                                                                  for i in frames]


def _check_scale(frame: int, sample: np.ndarray, reference: np.ndarray, inline: np.ndarray) -> None:
    lo, hi = SCALE_RATIO_RANGE
    for name, img in (("sample", sample), ("in-line image", inline)):
        with np.errstate(invalid="ignore"):
            ratio = float(np.nanmean(img) / reference.mean())
        if not lo <= ratio <= hi:
            raise InputError(f"frame {frame}: the {name} (mean {np.nanmean(img):.4g}) and the "
                             f"reference (mean {reference.mean():.4g}) are on different intensity "
                             f"scales (ratio {ratio:.3g}); apply the same dark/flat correction to "
                             f"all of them")


def _filled(image: np.ndarray) -> np.ndarray:
    """``image`` with NaN/inf pixels replaced by the median of the finite ones."""
    ok = np.isfinite(image)
    return image if ok.all() else np.where(ok, image, np.median(image[ok]) if ok.any() else 0.0)
