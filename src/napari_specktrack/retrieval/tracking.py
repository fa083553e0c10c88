"""Speckle tracking: zero-normalised cross-correlation (ZNCC) of a window around every pixel.

For every pixel r and every integer trial shift u in [−S, S]², the sample window around r is
compared with the reference window around r − u (the sample shows the reference displaced by
u: I_s(r) ≈ T·R(r − u)); :mod:`.zncc` computes the correlation and its sub-pixel peak, band by
band of rows (bounded memory whatever the frame size): compiled on the CPU, in torch on a GPU.

The integer peak is refined to sub-pixel precision by a least-squares paraboloid through the
3 × 3 correlation values around it. A pixel is flagged (``valid`` False) when its peak lies on the
edge of the search range (the true shift may be outside it), when its peak ZNCC is weak, or
when its shift disagrees with its neighbours' median by more than a pixel; flagged pixels are
in-painted from valid neighbours (normalised Gaussian convolution) so they cannot spike the
integrated phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .zncc import correlate

#: peak ZNCC below which a match is considered unreliable (flagged and in-painted)
MIN_QUALITY = 0.4
#: a shift further than this (px) from the 3×3 median of its neighbours is an outlier
OUTLIER_PX = 1.0
#: the largest search range suggest_parameters proposes (px); wider searches find false peaks
MAX_SUGGESTED_SEARCH = 10


@dataclass
class TrackResult:
    """Per-pixel tracking result (all float32 (y, x) except ``valid``).

    Attributes
    ----------
    dx_px, dy_px
        Speckle displacement u in detector pixels (after in-painting of flagged pixels).
    quality
        Peak ZNCC in [−1, 1] (before in-painting).
    valid
        False where the match was flagged and in-painted.
    sample_mean, sample_std
        Window mean and standard deviation of the tracked image.
    reference_mean, reference_std
        Window mean and standard deviation of the reference at the matched integer shift.
    """

    dx_px: np.ndarray
    dy_px: np.ndarray
    quality: np.ndarray
    valid: np.ndarray
    sample_mean: np.ndarray
    sample_std: np.ndarray
    reference_mean: np.ndarray
    reference_std: np.ndarray


def _torch():
    import torch

    return torch


def _check_odd_window(window_px: int) -> int:
    if int(window_px) != window_px or window_px < 3 or window_px % 2 == 0:
        raise InputError(f"window_px must be an odd integer ≥ 3, got {window_px!r} (e.g. 11)")
    return int(window_px)


def track(
    sample: np.ndarray,
    reference: np.ndarray,
    *,
    window_px: int = 11,
    search_px: int = 5,
    device: str = "cpu",
    band_rows: int | None = None,
    min_quality: float = MIN_QUALITY,
    cancel: Callable[[], bool] | None = None,
    engine: str = "auto",
) -> TrackResult:
    """Track the speckle of ``sample`` against ``reference`` (both 2-D, same shape).

    Parameters
    ----------
    sample
        The image whose speckle is displaced (sample image, or sample / in-line image).
    reference
        The speckle-only reference.
    window_px
        Side of the correlation window in pixels (odd).
    search_px
        Largest integer trial shift S in pixels; shifts in [−S, S]² are tried.
    device
        ``"cpu"`` or ``"cuda"`` (torch device string).
    band_rows
        Rows processed per band (bounded memory); default: :func:`.zncc.default_band_rows`
        (a band's correlation values within the CPU cache, or 256 MB on a GPU). The compiled
        search rounds it up to whole blocks of 64 rows, so it cannot change the values.
    min_quality
        Peak ZNCC below which a pixel is flagged.
    cancel
        Optional callable checked between bands; returning True raises CancelledError.
    engine
        ``"auto"`` (the compiled search on the CPU, torch on a GPU), ``"compiled"`` or
        ``"torch"``: the same values to float32 round-off (:func:`.zncc.correlate`).
    """
    torch = _torch()
    w = _check_odd_window(window_px)
    if int(search_px) != search_px or search_px < 1:
        raise InputError(f"search_px must be a positive integer, got {search_px!r} (e.g. 5)")
    s = int(search_px)
    if sample.shape != reference.shape or sample.ndim != 2:
        raise InputError(
            f"sample {sample.shape} and reference {reference.shape} must be 2-D images of one shape"
        )
    ny, nx = sample.shape
    if min(ny, nx) < w + 2 * s:
        raise InputError(
            f"image {sample.shape} is smaller than window + 2·search ({w} + 2·{s}); use a smaller "
            f"window_px/search_px or a larger image"
        )
    corr = correlate(sample, reference, w, s, device=device, band_rows=band_rows, engine=engine,
                     cancel=cancel)
    on_edge = (corr.peak_dy.abs() == s) | (corr.peak_dx.abs() == s)
    # matched reference window statistics at the integer peak
    dev = corr.zncc.device
    rows = torch.arange(ny, device=dev)[:, None] + s - corr.peak_dy
    cols = torch.arange(nx, device=dev)[None, :] + s - corr.peak_dx
    ref_mean = corr.reference_mean_all[rows, cols]
    ref_std = corr.reference_std_all[rows, cols]

    dx = corr.dx.cpu().numpy()
    dy = corr.dy.cpu().numpy()
    quality = corr.zncc.cpu().numpy()
    valid = ~on_edge.cpu().numpy() & (quality >= min_quality)
    valid &= _consistent(dx, dy, valid)
    dx, dy = inpaint([dx, dy], valid)
    offset_n = float(sample.mean())
    offset_r = float(reference.mean())
    return TrackResult(
        dx_px=dx.astype(np.float32),
        dy_px=dy.astype(np.float32),
        quality=quality.astype(np.float32),
        valid=valid,
        sample_mean=(corr.sample_mean.cpu().numpy() + offset_n).astype(np.float32),
        sample_std=corr.sample_std.cpu().numpy().astype(np.float32),
        reference_mean=(ref_mean.cpu().numpy() + offset_r).astype(np.float32),
        reference_std=ref_std.cpu().numpy().astype(np.float32),
    )


def _far_from_median(comp: np.ndarray, valid: np.ndarray, limit: float) -> np.ndarray:
    """Where |comp − m| > ``limit``, m the median of the valid values among each pixel's 3 × 3
    neighbours (edges replicated; the lower median for an even count; nowhere where none is
    valid) — exactly, but with the median computed only where it can matter.

    A pixel within ``limit`` of the smallest and of the largest valid neighbour is within it
    of their median too; the 3 × 3 minimum and maximum (two fast separable filters) clear
    almost every pixel, and the median is sorted out only for the few others.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    comp = np.asarray(comp, np.float32)
    lo = minimum_filter(np.where(valid, comp, np.inf), size=3, mode="nearest")
    hi = maximum_filter(np.where(valid, comp, -np.inf), size=3, mode="nearest")
    cy, cx = np.nonzero(~((comp - lo <= limit) & (hi - comp <= limit)))
    out = np.zeros(comp.shape, bool)
    if cy.size:
        padded = np.pad(np.where(valid, comp, np.nan), 1, mode="edge")
        nine = np.sort(np.stack([padded[cy + oy, cx + ox] for oy in range(3) for ox in range(3)],
                                axis=1), axis=1)  # NaN sorts last
        count = np.count_nonzero(~np.isnan(nine), axis=1)
        med = nine[np.arange(cy.size), np.maximum(count - 1, 0) // 2]
        out[cy, cx] = (count > 0) & (np.abs(comp[cy, cx] - med) > limit)
    return out


def _map_threads(fn, items: list) -> list:
    """``[fn(x) for x in items]``, on up to torch's thread count at once (the numpy and scipy
    calls inside release the GIL): the x and y components of the post-processing in parallel."""
    threads = min(len(items), _torch().get_num_threads())
    if threads < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def neighbourhood_kernels():
    """The compiled neighbourhood operations (:mod:`._neighbourhood`), or None where numba is
    missing."""
    try:
        from . import _neighbourhood
    except ImportError:
        return None
    return _neighbourhood


def _consistent(dx: np.ndarray, dy: np.ndarray, valid: np.ndarray, *,
                compiled: bool = True) -> np.ndarray:
    """False where a shift differs from the median of its valid 3×3 neighbours by more than
    OUTLIER_PX, or where fewer than 3 of its 8 neighbours are valid (an isolated match in a
    flagged region is more likely a false peak than the truth). Compiled where numba is
    there (one pass); the array code otherwise (the same result)."""
    kernels = neighbourhood_kernels() if compiled else None
    if kernels is not None:
        return kernels.consistent(dx, dy, valid, OUTLIER_PX, 3)
    far = _map_threads(lambda c: _far_from_median(c, valid, OUTLIER_PX), [dx, dy])
    out = ~(far[0] | far[1])
    v = np.pad(valid, 1, mode="edge").astype(np.int8)
    neighbours = sum(
        v[1 + oy : 1 + oy + valid.shape[0], 1 + ox : 1 + ox + valid.shape[1]]
        for oy in (-1, 0, 1)
        for ox in (-1, 0, 1)
        if oy or ox
    )
    return out & (neighbours >= 3)


#: the farthest (px) the compiled in-painting looks for a hole pixel's nearest valid pixel
#: before it hands the image to a distance transform (large holes)
NEAREST_SEARCH_PX = 12


def inpaint(values, valid: np.ndarray, *, compiled: bool = True):
    """Fill ``values`` (an array, or a list of arrays sharing one mask) where ``valid`` is False.

    Each hole pixel takes the value of its nearest valid pixel (Euclidean distance), then
    hole pixels are smoothed with a 5 × 5 mean of that filled image so the fill has no Voronoi
    steps; valid pixels keep their values. Compiled (numba), the nearest valid pixel is found
    by a search around each hole pixel (ties broken in a fixed order) and the mean taken at
    the hole pixels only; holes wider than :data:`NEAREST_SEARCH_PX`, and the array code,
    use scipy's Euclidean distance transform (its own tie order) and a box filter.
    """
    from scipy.ndimage import distance_transform_edt, uniform_filter

    arrays = values if isinstance(values, list) else [values]
    kernels = neighbourhood_kernels() if compiled else None
    if valid.all():
        out = [np.asarray(a, np.float32) for a in arrays]
    elif not valid.any():
        out = [np.zeros(np.shape(a), np.float32) for a in arrays]
    elif kernels is not None:
        mask = np.ascontiguousarray(valid, bool)
        near, found = kernels.nearest_valid(mask, NEAREST_SEARCH_PX)
        if not found:
            iy, ix = distance_transform_edt(~mask, return_distances=False, return_indices=True)
            near = np.where(mask, -1, iy.astype(np.int64) * mask.shape[1] + ix)
        out = _map_threads(lambda a: kernels.fill_holes(np.ascontiguousarray(a, np.float32),
                                                         near, 2), arrays)
    else:
        iy, ix = distance_transform_edt(~valid, return_distances=False, return_indices=True)

        def fill(a):
            smooth = uniform_filter(np.asarray(a, np.float32)[iy, ix], size=5, mode="nearest")
            return np.where(valid, a, smooth).astype(np.float32)

        out = _map_threads(fill, arrays)
    return out if isinstance(values, list) else out[0]


# --- parameter advice ------------------------------------------------------------------------
def speckle_size_px(reference: np.ndarray) -> float:
    """Speckle size: FWHM (px) of the reference's normalised autocorrelation along x and y."""
    r = np.asarray(reference, dtype=np.float64)
    r = r - r.mean()
    spec = np.abs(np.fft.rfft2(r)) ** 2
    ac = np.fft.irfft2(spec, s=r.shape)
    ac /= ac[0, 0]
    widths = []
    for prof in (ac[0, : r.shape[1] // 2], ac[: r.shape[0] // 2, 0]):
        below = np.nonzero(prof < 0.5)[0]
        if below.size == 0:
            widths.append(float(len(prof)))
            continue
        i = int(below[0])
        # linear interpolation of the half-maximum crossing; FWHM = 2 × half width
        x = i - 1 + (prof[i - 1] - 0.5) / (prof[i - 1] - prof[i])
        widths.append(2.0 * x)
    return float(np.mean(widths))


def speckle_visibility(reference: np.ndarray) -> float:
    """Visibility std / mean of the reference speckle (dimensionless)."""
    r = np.asarray(reference, dtype=np.float64)
    return float(r.std() / r.mean())


def suggest_parameters(
    reference: np.ndarray, sample: np.ndarray | None = None, max_shift_px: float | None = None
) -> dict[str, float | int]:
    """Suggest ``window_px`` and ``search_px`` from the speckle size and the expected shift.

    The window holds about 2.5 speckle grains across (odd, 7–31 px), enough for a distinct
    correlation peak in a single shot. The search range is the expected largest shift + 2 px
    (at most ``MAX_SUGGESTED_SEARCH``); without ``max_shift_px`` and with a ``sample``, the
    largest shift is the 98th percentile of a quick coarse tracking of a central crop
    (search ±8 px).
    """
    ref = np.asarray(reference if np.ndim(reference) == 2 else reference[0], dtype=np.float32)
    size = speckle_size_px(ref)
    window = int(np.clip(round(2.5 * size), 7, 31))
    window += 1 - window % 2
    if max_shift_px is None and sample is not None:
        smp = np.asarray(sample if np.ndim(sample) == 2 else sample[0], dtype=np.float32)
        ny, nx = ref.shape
        c = min(ny, nx, 256)
        y0, x0 = (ny - c) // 2, (nx - c) // 2
        crop = (slice(y0, y0 + c), slice(x0, x0 + c))
        coarse_search = min(8, (c - window) // 2 - 1)
        res = track(smp[crop], ref[crop], window_px=window, search_px=coarse_search)
        mag = np.hypot(res.dx_px, res.dy_px)[res.valid]
        # the 98th percentile: the few largest shifts sit in the outermost pixel of sharp
        # rims, where the window averages them anyway and a wide search only adds false peaks
        max_shift_px = float(np.percentile(mag, 98)) if mag.size else 3.0
    search = 5 if max_shift_px is None else int(np.clip(math.ceil(max_shift_px) + 2, 2, MAX_SUGGESTED_SEARCH))
    return {
        "window_px": window,
        "search_px": int(search),
        "speckle_size_px": round(size, 2),
        "visibility": round(speckle_visibility(ref), 4),
        "max_shift_px": None if max_shift_px is None else round(max_shift_px, 2),
    }
