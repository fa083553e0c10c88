"""Registration of a training target (in-line image) onto its input (sample − reference).

The in-line image is taken with the membrane moved out of the beam, so the sample may have
moved a little between the two exposures. :func:`measure_shift` finds the shift by
cross-correlating the target with the input, both low-passed by a Gaussian of
``sigma_px`` (which removes most of the speckle and keeps the sample's absorption and edges);
the peak is refined to 1/``upsample`` px by the matrix-multiply DFT of
``skimage.registration.phase_cross_correlation`` (plain cross-correlation: whitening the
spectrum, "phase" normalisation, amplifies the residual speckle and was off by up to 1.7 px
in the measurement below).

Accuracy, measured on perfectly registered simulated stacks (``simulate("rotation", N,
frames=4)``, tests/test_curation.py): a known shift of (1.6, −2.3) px is recovered to
≤ 0.05 px, and measured again after the correction it reads ≤ 0.02 px. The unshifted pairs
themselves read 0.01–0.13 px at 128² (≤ 0.10 px at 256²): a difference between the
low-passed speckle image and the in-line image rather than of the estimator — a
Gauss–Newton fit of sample ≈ c · reference · shifted target gives the same offsets; lower-
pass or ratio (sample/reference) images were no better.

:func:`apply_shift` moves an image by a sub-pixel shift (Fourier shift theorem) after reflect
padding, so no content wraps around from the opposite edge.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

#: a target shifted by more than this (pixels, either axis) from its input is warned about
WARN_SHIFT_PX = 1.0
#: shifts smaller than this (pixels) are within the estimate's bias and not worth correcting
MIN_CORRECTION_PX = 0.1
#: low-pass before correlating, Gaussian σ in pixels
SIGMA_PX = 2.0


def lowpass(image: np.ndarray, sigma_px: float = SIGMA_PX, bin_px: int = 1) -> np.ndarray:
    """``image`` binned ``bin_px`` × ``bin_px``, blurred by a Gaussian of σ = ``sigma_px``
    (original) pixels, mean removed (float32)."""
    from scipy.ndimage import gaussian_filter

    x = np.asarray(image, np.float32)
    if bin_px > 1:
        h, w = (x.shape[0] // bin_px) * bin_px, (x.shape[1] // bin_px) * bin_px
        x = x[:h, :w].reshape(h // bin_px, bin_px, w // bin_px, bin_px).mean(axis=(1, 3))
    out = gaussian_filter(x, sigma_px / bin_px, mode="reflect")
    return out - out.mean()


def measure_shift(inp: np.ndarray, target: np.ndarray, *, sigma_px: float = SIGMA_PX,
                  upsample: int = 100, bin_px: int | None = None) -> np.ndarray:
    """The shift (dy, dx) in pixels that registers ``target`` onto ``inp``: apply it to the
    target (:func:`apply_shift`) to correct it. Accuracy see the module docstring.

    Images of 256 px and more are binned 2 × 2 first (``bin_px`` default: a quarter of the
    pixels to transform; the low-passed content survives it — on 512² simulated frames the
    binned and full estimates agree to 0.01 px); the peak is refined to
    ``bin_px``/``upsample`` px (0.02 px binned, 0.01 px at 128²).
    """
    from skimage.registration import phase_cross_correlation

    a, b = np.asarray(inp), np.asarray(target)
    if a.ndim != 2 or a.shape != b.shape:
        raise InputError(f"input {a.shape} and target {b.shape} must be 2-D images of one shape")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("input or target contains NaN/inf; the shift cannot be measured")
    binning = (2 if min(a.shape) >= 256 else 1) if bin_px is None else max(1, int(bin_px))
    shift, _err, _phase = phase_cross_correlation(
        lowpass(a, sigma_px, binning), lowpass(b, sigma_px, binning),
        upsample_factor=int(upsample), normalization=None)
    return np.round(np.asarray(shift, np.float64) * binning, 4)


def apply_shift(image: np.ndarray, shift_yx_px) -> np.ndarray:
    """``image`` moved by ``shift_yx_px`` = (dy, dx) pixels (content at (y, x) goes to
    (y + dy, x + dx)), by the Fourier shift theorem after reflect padding; float32."""
    img = np.asarray(image, np.float64)
    dy, dx = (float(s) for s in shift_yx_px)
    if not (math.isfinite(dy) and math.isfinite(dx)):
        raise InputError(f"shift {shift_yx_px!r} must be finite pixels")
    if dy == 0 and dx == 0:
        return img.astype(np.float32)
    pad = math.ceil(max(abs(dy), abs(dx))) + 8
    p = np.pad(img, pad, mode="reflect")
    ky = np.fft.fftfreq(p.shape[0])[:, None]
    kx = np.fft.rfftfreq(p.shape[1])[None, :]
    spec = np.fft.rfft2(p) * np.exp(-2j * np.pi * (ky * dy + kx * dx))
    out = np.fft.irfft2(spec, s=p.shape)
    return out[pad:pad + img.shape[0], pad:pad + img.shape[1]].astype(np.float32)


def needs_warning(shift_yx_px) -> bool:
    """True when a measured shift exceeds :data:`WARN_SHIFT_PX` on either axis."""
    return bool(np.max(np.abs(np.asarray(shift_yx_px, float))) > WARN_SHIFT_PX)
