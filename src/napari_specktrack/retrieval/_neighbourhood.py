"""Small-neighbourhood pixel operations of the retrieval compiled for the CPU (numba).

The tracker's outlier test and hole smoothing (:mod:`.tracking`) and the hot-pixel test
(:mod:`.signals`) are 3 × 3 / 5 × 5 neighbourhood operations that array code spreads over
several full-image filter passes (minimum, maximum, counts, a median where those cannot
decide, a box filter of the whole filled image); here each is one pass that touches only what
it needs: 3.5–6× faster at 1024² on one thread (``benchmarks/bench_kernels.py``). The array
code stays as the fallback where numba is missing and as the reference the tests hold these
to (equal results).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _far_from_median(comp, valid, y, x, limit, vals):  # pragma: no cover - compiled
    """|comp[y, x] − m| > limit, m the lower median of the valid values among the 3 × 3
    neighbours (at least one valid: the caller's extremes said so). Padded arrays: (y, x) is
    an inner pixel."""
    n = 0
    for yy in range(y - 1, y + 2):
        for xx in range(x - 1, x + 2):
            if valid[yy, xx]:
                v = comp[yy, xx]
                i = n  # insertion sort of at most nine values
                while i > 0 and vals[i - 1] > v:
                    vals[i] = vals[i - 1]
                    i -= 1
                vals[i] = v
                n += 1
    return abs(comp[y, x] - vals[(n - 1) // 2]) > limit


@njit(nogil=True, cache=True)
def _extremes3(comp, valid, lo, hi):  # pragma: no cover - compiled
    """3 × 3 minimum and maximum of the valid values of a padded array (±inf where none),
    for its inner pixels: separable passes that vectorise."""
    ny, nx = comp.shape[0] - 2, comp.shape[1] - 2
    inf = np.float32(np.inf)
    rlo = np.empty((ny + 2, nx), np.float32)
    rhi = np.empty((ny + 2, nx), np.float32)
    mlo = np.empty(nx + 2, np.float32)
    mhi = np.empty(nx + 2, np.float32)
    for y in range(ny + 2):
        c = comp[y]
        v = valid[y]
        for x in range(nx + 2):
            mlo[x] = c[x] if v[x] else inf
            mhi[x] = c[x] if v[x] else -inf
        a, b = rlo[y], rhi[y]
        for x in range(nx):
            a[x] = min(min(mlo[x], mlo[x + 1]), mlo[x + 2])
            b[x] = max(max(mhi[x], mhi[x + 1]), mhi[x + 2])
    for y in range(ny):
        a, b = lo[y], hi[y]
        for x in range(nx):
            a[x] = min(min(rlo[y, x], rlo[y + 1, x]), rlo[y + 2, x])
            b[x] = max(max(rhi[y, x], rhi[y + 1, x]), rhi[y + 2, x])


@njit(nogil=True, cache=True)
def _consistent_padded(dx, dy, valid, limit, min_neighbours):  # pragma: no cover - compiled
    ny, nx = dx.shape[0] - 2, dx.shape[1] - 2
    lim = np.float32(limit)
    lo_x = np.empty((ny, nx), np.float32)
    hi_x = np.empty((ny, nx), np.float32)
    lo_y = np.empty((ny, nx), np.float32)
    hi_y = np.empty((ny, nx), np.float32)
    _extremes3(dx, valid, lo_x, hi_x)
    _extremes3(dy, valid, lo_y, hi_y)
    out = np.zeros((ny, nx), np.bool_)
    vals = np.empty(9, np.float32)
    for y in range(ny):
        v0, v1, v2 = valid[y], valid[y + 1], valid[y + 2]
        cx, cy = dx[y + 1], dy[y + 1]
        for x in range(nx):
            count = (np.int32(v0[x]) + np.int32(v0[x + 1]) + np.int32(v0[x + 2])
                     + np.int32(v1[x]) + np.int32(v1[x + 2])
                     + np.int32(v2[x]) + np.int32(v2[x + 1]) + np.int32(v2[x + 2]))
            # within the limit of both extremes: of the median too (or no valid neighbour)
            near = ((cx[x + 1] - lo_x[y, x] <= lim and hi_x[y, x] - cx[x + 1] <= lim)
                    or hi_x[y, x] < lo_x[y, x])
            near_y = ((cy[x + 1] - lo_y[y, x] <= lim and hi_y[y, x] - cy[x + 1] <= lim)
                      or hi_y[y, x] < lo_y[y, x])
            if count < min_neighbours:
                continue
            # where the extremes cannot clear a component (rare), its median decides
            far = not near and _far_from_median(dx, valid, y + 1, x + 1, lim, vals)
            far = far or (not near_y and _far_from_median(dy, valid, y + 1, x + 1, lim, vals))
            out[y, x] = not far
    return out


def consistent(dx: np.ndarray, dy: np.ndarray, valid: np.ndarray, limit: float,
               min_neighbours: int) -> np.ndarray:
    """True where neither component is further than ``limit`` from the median of its valid
    3 × 3 neighbours and at least ``min_neighbours`` of the 8 neighbours are valid (edges
    replicated): what ``tracking._consistent`` computes with array code."""
    def pad(a, dtype):
        return np.pad(np.asarray(a, dtype), 1, mode="edge")

    return _consistent_padded(pad(dx, np.float32), pad(dy, np.float32), pad(valid, np.bool_),
                              float(limit), int(min_neighbours))


@njit(nogil=True, cache=True)
def nearest_valid(valid, max_r):  # pragma: no cover - compiled
    """For every invalid pixel, the flat index of a valid pixel at the least Euclidean
    distance (ties: the first in the search order — Chebyshev ring, then row, then column);
    −1 at valid pixels. Searched ring by ring around each hole pixel, which costs little for
    the small holes a tracking leaves; returns ``(index, False)`` as soon as a hole pixel has
    no valid pixel within ``max_r`` (then a distance transform of the whole image is cheaper)."""
    ny, nx = valid.shape
    near = np.full((ny, nx), -1, np.int64)
    for y in range(ny):
        for x in range(nx):
            if valid[y, x]:
                continue
            best = -1
            best_d2 = 1 << 62
            for r in range(1, max_r + 1):
                if r * r > best_d2:  # no pixel of this ring or beyond can be nearer
                    break
                for oy in range(-r, r + 1):
                    yy = y + oy
                    if yy < 0 or yy >= ny:
                        continue
                    step = 1 if (oy == -r or oy == r) else 2 * r
                    for ox in range(-r, r + 1, step):
                        xx = x + ox
                        if xx < 0 or xx >= nx or not valid[yy, xx]:
                            continue
                        d2 = oy * oy + ox * ox
                        if d2 < best_d2:
                            best_d2 = d2
                            best = yy * nx + xx
            if best < 0 or best_d2 > max_r * max_r:  # not sure the nearest was within reach
                return near, False
            near[y, x] = best
    return near, True


@njit(nogil=True, cache=True)
def fill_holes(values, near, half):  # pragma: no cover - compiled
    """``values`` where ``near`` is −1 (valid); at a hole pixel, the mean over the
    (2·half + 1)² window around it (edges replicated) of the image filled with each hole
    pixel's nearest valid value — what a box filter of that whole filled image gives there."""
    ny, nx = values.shape
    flat = values.ravel()
    out = values.copy()
    area = float((2 * half + 1) ** 2)
    for y in range(ny):
        for x in range(nx):
            if near[y, x] < 0:
                continue
            acc = 0.0
            for oy in range(-half, half + 1):
                yy = min(max(y + oy, 0), ny - 1)
                for ox in range(-half, half + 1):
                    xx = min(max(x + ox, 0), nx - 1)
                    k = near[yy, xx]
                    acc += values[yy, xx] if k < 0 else flat[k]
            out[y, x] = acc / area
    return out


@njit(nogil=True, cache=True)
def ring_outliers(img, limit):  # pragma: no cover - compiled
    """True where a pixel stands above the largest of its 8 neighbours, or below the smallest,
    by more than ``limit`` (borders reflected: for a 3 × 3 ring, the edge pixel itself)."""
    ny, nx = img.shape
    out = np.zeros((ny, nx), np.bool_)
    lim = np.float32(limit)  # compared in float32, as numpy compares a float32 image
    for y in range(ny):
        for x in range(nx):
            hi = np.float32(-np.inf)
            lo = np.float32(np.inf)
            for oy in range(-1, 2):
                yy = min(max(y + oy, 0), ny - 1)
                for ox in range(-1, 2):
                    if oy == 0 and ox == 0:
                        continue
                    v = img[yy, min(max(x + ox, 0), nx - 1)]
                    hi = max(hi, v)
                    lo = min(lo, v)
            c = img[y, x]
            out[y, x] = (c - hi > lim) or (lo - c > lim)
    return out
