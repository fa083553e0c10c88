"""Transmission and dark-field from the window statistics of a tracked image pair.

Both are ratios over the correlation window at the matched shift (physics.md):

- transmission T = ⟨I_s⟩_W / ⟨R_u⟩_W (conventional). In the double-exposure method the
  in-line image P *is* the transmission image (with its edge fringes), so T = ⟨P⟩_W: the
  window mean averages the fringes out, as energy conservation guarantees.
- refraction: a sample that refracts also concentrates or spreads the light: by energy
  conservation (geometric optics) the intensity of the displaced speckle is scaled by the
  Jacobian 1 − ∇·u of the mapping r → r − u (the lens effect that propagation-based imaging
  lives on). Left in, it makes a smooth phase object look absorbing by several per cent;
  :func:`correct_refraction` divides it out with the measured displacement.
- dark-field D = (σ_W(I)/⟨I⟩_W) / (σ_W(R_u)/⟨R_u⟩_W): the relative visibility of the tracked
  speckle (1 where nothing scatters, < 1 where unresolved structure blurs the speckle). In the
  double-exposure method I = I_s / P, whose speckle carries D alone.
"""

from __future__ import annotations

import numpy as np

from .tracking import TrackResult, neighbourhood_kernels

_EPS = 1e-12


def transmission(result: TrackResult) -> np.ndarray:
    """⟨I⟩_W / ⟨R_u⟩_W from the tracker's window statistics (float32)."""
    return (result.sample_mean / np.maximum(result.reference_mean, _EPS)).astype(np.float32)


def darkfield(result: TrackResult) -> np.ndarray:
    """Ratio of the tracked image's speckle visibility to the reference's (float32)."""
    vis_s = result.sample_std / np.maximum(np.abs(result.sample_mean), _EPS)
    vis_r = result.reference_std / np.maximum(np.abs(result.reference_mean), _EPS)
    return (vis_s / np.maximum(vis_r, _EPS)).astype(np.float32)


def window_mean(image: np.ndarray, window_px: int) -> np.ndarray:
    """Mean over a ``window_px`` × ``window_px`` window around every pixel (reflecting borders)."""
    from scipy.ndimage import uniform_filter

    return uniform_filter(np.asarray(image, np.float32), size=window_px, mode="reflect")


def correct_refraction(
    trans: np.ndarray, dx_px: np.ndarray, dy_px: np.ndarray, window_px: int
) -> np.ndarray:
    """Divide the window-mean transmission by the Jacobian 1 − ∇·u of the speckle mapping.

    ∇·u (px/px) is taken from the measured displacement with central differences and
    averaged over the same window as the transmission; the factor is clipped to [0.2, 5] so
    an outlier cannot blow up the result.
    """
    div = np.gradient(np.asarray(dx_px, np.float32), axis=1) + np.gradient(
        np.asarray(dy_px, np.float32), axis=0
    )
    jac = np.clip(1.0 - window_mean(div, window_px), 0.2, 5.0)
    return (trans / jac).astype(np.float32)


def remove_hot_pixels(image: np.ndarray, threshold: float = 10.0, *,
                      compiled: bool = True) -> tuple[np.ndarray, int]:
    """Replace isolated outliers (zingers, hot or dead pixels) by their 3 × 3 median.

    A pixel is an outlier when it stands above the *largest* of its 8 neighbours (or below the
    smallest) by more than ``threshold`` times the image's robust pixel-to-pixel spread
    (1.4826 × median absolute deviation from the mean of the 4 nearest neighbours, estimated
    on a subsample). Only isolated single-pixel extremes qualify: speckle grains span several
    pixels and edge fringes run along lines, so neither is touched. Returns the cleaned
    float32 image and the number replaced. The neighbour test runs compiled where numba is
    there (one pass; the filters otherwise, the same result).
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    img = np.asarray(image, np.float32)
    sub = img[::3, ::3] if min(img.shape) >= 96 else img
    lap = sub[1:-1, 1:-1] - 0.25 * (sub[:-2, 1:-1] + sub[2:, 1:-1] + sub[1:-1, :-2] + sub[1:-1, 2:])
    spread = 1.4826 * float(np.median(np.abs(lap - np.median(lap)))) + 1e-12
    kernels = neighbourhood_kernels() if compiled else None
    if kernels is not None:
        bad = kernels.ring_outliers(np.ascontiguousarray(img), threshold * spread)
    else:
        ring = np.ones((3, 3), bool)
        ring[1, 1] = False
        hi = maximum_filter(img, footprint=ring, mode="reflect")
        bad = img - hi > threshold * spread
        del hi
        bad |= minimum_filter(img, footprint=ring, mode="reflect") - img > threshold * spread
    n = int(np.count_nonzero(bad))
    if n == 0:
        return img, 0
    out = img.copy()
    pad = np.pad(img, 1, mode="reflect")
    ys, xs = np.nonzero(bad)
    neighbourhoods = np.stack([pad[ys + dy, xs + dx] for dy in range(3) for dx in range(3)])
    out[ys, xs] = np.median(neighbourhoods, axis=0)
    return out, n
