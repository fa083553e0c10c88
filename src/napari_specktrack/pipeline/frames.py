"""The images of a run and their calibration: ``(I − dark) / (flat − dark)``.

:class:`Frames` holds the sample (one frame or an (n, y, x) stack: numpy, memory-mapped or
dask, read a frame at a time), the reference, the optional measured in-line images and the
optional dark and flat frames (stacks of those three are averaged). Every front end hands
its images over in one of these and gets calibrated float32 frames back, so the CLI corrects
raw frames exactly as the widgets do.

:meth:`Frames.validate` is the one check of the images, run once before any computing:
shapes and dtypes, finite values, positive intensities, speckle in the reference and in the
sample, and sample and reference on one intensity scale. Each message names the image, the
number found and the fix. A frame of a stack that turns out bad while a run reads it (NaN,
no speckle) raises :class:`~napari_specktrack.errors.InputError` naming its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

#: visibility (std/mean) below which a reference holds no usable speckle
MIN_REFERENCE_VISIBILITY = 0.02
#: a sample frame whose :func:`speckle_match` with the reference is below this shows no speckle
#: (the membrane is out of the beam, or an in-line image was given as sample)
MIN_SPECKLE_MATCH = 0.3
#: ratio of the sample's and reference's mean intensities outside which they are taken to be
#: on different scales (one flat-fielded, one raw)
SCALE_RATIO_RANGE = (0.05, 5.0)
#: images below this size (px) cannot be tracked
MIN_SIDE_PX = 16
#: stacks larger than this many elements are checked for NaN on three frames up front
_FULL_CHECK_ELEMENTS = 64 * 1024 * 1024


def _mean_image(data: Any) -> np.ndarray:
    """A (y, x) float32 image: the image itself, or the mean of an (n, y, x) stack."""
    if np.ndim(data) == 2:
        return np.asarray(data, dtype=np.float32)
    acc = np.zeros(data.shape[-2:], dtype=np.float64)
    for i in range(data.shape[0]):
        acc += np.asarray(data[i], dtype=np.float64)
    return (acc / data.shape[0]).astype(np.float32)


def speckle_match(sample: np.ndarray, reference: np.ndarray, tile_px: int = 64,
                  max_shift_px: int = 12) -> float:
    """How well the sample shows the reference's speckle (0: not at all, 1: perfectly).

    Both images are high-passed (minus a 4-px Gaussian blur) and cut into ``tile_px`` tiles
    (a central 256² region at most); per tile the peak normalised cross-correlation over
    shifts up to ``max_shift_px`` is taken (FFT), and the median over tiles returned. Speckle
    displaced by the sample gives ≈ 0.3–0.9; a flat field or an in-line image without the
    membrane gives ≈ 0.05 (noise) to ≈ 0.25 (chance matches of sharp edges; dimensionless).
    """
    from scipy.ndimage import gaussian_filter

    def high(img: np.ndarray) -> np.ndarray:
        img = np.asarray(img, np.float64)
        return img - gaussian_filter(img, 4.0, mode="reflect")

    ny, nx = sample.shape
    c = min(256, ny - ny % tile_px, nx - nx % tile_px)
    if c < tile_px:
        tile_px = c = min(ny, nx)
    y0, x0 = (ny - c) // 2, (nx - c) // 2
    hs, hr = high(sample[y0:y0 + c, x0:x0 + c]), high(reference[y0:y0 + c, x0:x0 + c])
    scores = []
    for ty in range(0, c - tile_px + 1, tile_px):
        for tx in range(0, c - tile_px + 1, tile_px):
            a = hs[ty:ty + tile_px, tx:tx + tile_px]
            b = hr[ty:ty + tile_px, tx:tx + tile_px]
            a, b = a - a.mean(), b - b.mean()
            den = np.sqrt((a * a).sum() * (b * b).sum()) + 1e-30
            xc = np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(b)), s=a.shape) / den
            m = min(max_shift_px, tile_px // 4)
            near = np.concatenate([xc[:m + 1], xc[-m:]])
            near = np.concatenate([near[:, :m + 1], near[:, -m:]], axis=1)
            scores.append(float(near.max()))
    return float(np.median(scores))


def _check_array(name: str, data: Any, *, stack: bool = True) -> tuple[int, ...]:
    shape = tuple(int(s) for s in np.shape(data))
    if len(shape) not in ((2, 3) if stack else (2,)):
        want = "a (y, x) image or an (n, y, x) stack" if stack else "a (y, x) image"
        raise InputError(f"{name} has shape {shape}; it must be {want} — split colour channels or "
                         f"extra axes first")
    dtype = np.dtype(getattr(data, "dtype", np.float32))
    if dtype.kind not in "uif":
        raise InputError(f"{name} has dtype {dtype}; detector images must be integer or float counts")
    if len(shape) == 3 and shape[-1] in (3, 4) and min(shape[:2]) >= MIN_SIDE_PX:
        raise InputError(f"{name} has shape {shape}: a colour (RGB/RGBA) image, not detector "
                         f"counts; save it as a grayscale (y, x) image (one channel) first")
    if min(shape[-2:]) < MIN_SIDE_PX:
        raise InputError(f"{name} is only {shape[-2]}×{shape[-1]} px; speckle tracking needs at "
                         f"least {MIN_SIDE_PX}×{MIN_SIDE_PX} px")
    if len(shape) == 3 and shape[0] == 0:
        raise InputError(f"{name} is an empty stack (0 frames)")
    return shape


def check_finite(name: str, image: np.ndarray) -> None:
    """Raise naming ``name`` when ``image`` holds NaN or infinite pixels."""
    if not np.isfinite(image).all():
        bad = int(np.count_nonzero(~np.isfinite(image)))
        raise InputError(f"{name} contains {bad} NaN/inf pixel(s); replace dead pixels (e.g. by "
                         f"their neighbours' median) or crop them away")


def check_positive(name: str, image: np.ndarray) -> None:
    """Raise naming ``name`` when ``image`` has zero or negative intensities."""
    n = int(np.count_nonzero(image <= 0))
    if n:
        raise InputError(f"{name} has {n} zero or negative pixel(s); intensities must be positive "
                         f"counts — check the dark frame (is it brighter than the image?) and the flat")


@dataclass
class Frames:
    """Images of one run; frames come out calibrated as float32 (see module docstring).

    Attributes
    ----------
    sample
        Sample speckle image (y, x) or stack (n, y, x), raw or flat-fielded counts.
    reference
        Speckle-only reference image, or a stack (averaged).
    inline
        Measured in-line images (no membrane) matching ``sample`` frame for frame, or None.
    dark, flat
        Detector dark and open-beam flat image or stack (averaged), or None.
    """

    sample: Any
    reference: Any
    inline: Any = None
    dark: Any = None
    flat: Any = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_stack(self) -> bool:
        return np.ndim(self.sample) == 3

    @property
    def n_frames(self) -> int:
        return int(np.shape(self.sample)[0]) if self.is_stack else 1

    @property
    def shape_yx(self) -> tuple[int, int]:
        return tuple(int(s) for s in np.shape(self.sample)[-2:])

    # --- calibration ---------------------------------------------------------------------------
    def _dark(self) -> np.ndarray | float:
        if self.dark is None:
            return 0.0
        if "dark" not in self._cache:
            self._cache["dark"] = _mean_image(self.dark)
        return self._cache["dark"]

    def _gain(self) -> np.ndarray | None:
        """flat − dark (≈ the open-beam counts), or None without a flat."""
        if self.flat is None:
            return None
        if "gain" not in self._cache:
            self._cache["gain"] = _mean_image(self.flat) - self._dark()
        return self._cache["gain"]

    def calibrate(self, image: Any) -> np.ndarray:
        """``(I − dark) / (flat − dark)`` (``I − dark`` without a flat), float32."""
        img = np.asarray(image, dtype=np.float32)
        gain = self._gain()
        if gain is not None:
            return ((img - self._dark()) / gain).astype(np.float32)
        if self.dark is not None:
            return (img - self._dark()).astype(np.float32)
        return img if img.flags.writeable and img is not image else np.array(img, copy=True)

    def reference_image(self) -> np.ndarray:
        """The calibrated reference (a stack is averaged first), cached."""
        if "reference" not in self._cache:
            self._cache["reference"] = self.calibrate(_mean_image(self.reference))
        return self._cache["reference"]

    def sample_frame(self, index: int = 0) -> np.ndarray:
        """The calibrated sample frame ``index`` (ignored for a single image)."""
        raw = self.sample[index] if self.is_stack else self.sample
        return self.calibrate(raw)

    def inline_frame(self, index: int = 0) -> np.ndarray | None:
        """The calibrated measured in-line frame ``index``, or None without in-line images."""
        if self.inline is None:
            return None
        raw = self.inline[index] if np.ndim(self.inline) == 3 else self.inline
        return self.calibrate(raw)

    # --- the one check ---------------------------------------------------------------------------
    def validate(self, *, need_inline: bool = False, probe_samples: bool = True) -> Frames:
        """Check shapes, dtypes and values before any computing (see module docstring).

        ``probe_samples=False`` skips the per-frame sample checks (NaN, speckle, scale): for
        callers that judge each frame themselves, e.g. curation flags a crop with a dead pixel
        instead of refusing the stack.
        """
        smp = _check_array("the sample", self.sample)
        yx = smp[-2:]
        for name, data in (("the reference", self.reference), ("the dark", self.dark),
                           ("the flat", self.flat)):
            if data is not None and _check_array(name, data)[-2:] != yx:
                raise InputError(f"{name} is {np.shape(data)[-2]}×{np.shape(data)[-1]} px but the "
                                 f"sample is {yx[0]}×{yx[1]} px; use frames of the same detector "
                                 f"region (crop both alike)")
        if need_inline and self.inline is None:
            raise InputError("double exposure with a measured in-line image needs the in-line "
                             "image(s) (--inline, or the in-line role in the Acquisition dock)")
        if self.inline is not None:
            inl = _check_array("the in-line image", self.inline)
            if inl != smp:
                raise InputError(f"the in-line images {inl} must match the sample {smp} frame for "
                                 f"frame")
        gain = self._gain()
        if gain is not None and np.count_nonzero(gain <= 0):
            raise InputError(f"the flat is not brighter than the dark at "
                             f"{int(np.count_nonzero(gain <= 0))} pixels; are dark and flat swapped?")
        ref = self.reference_image()
        check_finite("the reference", ref)
        check_positive("the reference", ref)
        self._check_reference_speckle(ref)
        if probe_samples:
            self._check_sample_probes()
        return self

    def _check_reference_speckle(self, ref: np.ndarray) -> None:
        vis = float(ref.std() / ref.mean())
        if vis < MIN_REFERENCE_VISIBILITY:
            raise InputError(f"the reference has no usable speckle (visibility std/mean = {vis:.4f} "
                             f"< {MIN_REFERENCE_VISIBILITY}); is the membrane in the beam and the "
                             f"reference a speckle image, not a flat field?")

    def _check_sample_probes(self) -> None:
        n = self.n_frames
        size = int(np.prod(np.shape(self.sample)))
        probes = sorted({0, n // 2, n - 1}) if size > _FULL_CHECK_ELEMENTS else range(n)
        for i in probes:
            self.checked_frame(i)

    def checked_frame(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The calibrated sample (and in-line) frame ``index``, checked; raises naming the frame."""
        tag = f" frame {index}" if self.is_stack else ""
        sample = self.sample_frame(index)
        check_finite(f"the sample{tag}", sample)
        check_positive(f"the sample{tag}", sample)
        ref = self.reference_image()
        ratio = float(sample.mean() / ref.mean())
        lo, hi = SCALE_RATIO_RANGE
        if not lo <= ratio <= hi:
            raise InputError(f"the sample{tag} (mean {sample.mean():.4g}) and the reference (mean "
                             f"{ref.mean():.4g}) are on different intensity scales (ratio {ratio:.3g}); "
                             f"apply the same flat-field correction to both (--dark/--flat), or give "
                             f"both raw")
        match = speckle_match(sample, ref)
        if match < MIN_SPECKLE_MATCH:
            raise InputError(f"the sample{tag} shows no speckle of the reference (match {match:.2f} < "
                             f"{MIN_SPECKLE_MATCH}); was the membrane in the beam, and is this a "
                             f"speckle image, not an in-line image or a flat?")
        inline = self.inline_frame(index)
        if inline is not None:
            check_finite(f"the in-line image{tag}", inline)
            check_positive(f"the in-line image{tag}", inline)
            ratio = float(inline.mean() / sample.mean())
            if not lo <= ratio <= hi:
                raise InputError(f"the in-line image{tag} (mean {inline.mean():.4g}) and the sample "
                                 f"(mean {sample.mean():.4g}) are on different intensity scales; "
                                 f"correct both with the same dark and flat")
        return sample, inline
