"""Cubic-spline zoom of an image, separable and compiled: ``scipy.ndimage.zoom(a, factor,
order=3, mode="nearest")`` to float64 round-off, ≈ 5× faster (``benchmarks/bench_kernels.py``).

scipy evaluates the spline at every output pixel from its 4 × 4 coefficients (16 products
per pixel); the zoom's coordinate map is separable, so here the spline is evaluated along x
for every coefficient row and then along y (8 products per output pixel, in loops that
vectorise). The coefficients are scipy's own (``spline_filter`` on the image padded by 12
edge pixels, as ``zoom`` prepares them), and the coordinate map is zoom's default
(``grid_mode=False``: output index o samples input coordinate o (n − 1)/(m − 1)). The fusion's
Fresnel model upsamples every frame this way (0.27 s per 1024² frame with scipy's zoom).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: edge pixels scipy's zoom pads the image with before the spline prefilter (mode "nearest")
_NPAD = 12


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """First coefficient index (padded array) and the four cubic B-spline weights per output
    index along one axis."""
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    x = np.arange(n_out) * scale + _NPAD
    base = np.floor(x)
    t = x - base
    w = np.stack([(1 - t) ** 3 / 6, 2 / 3 - t * t + t**3 / 2,
                  (1 + 3 * t + 3 * t * t - 3 * t**3) / 6, t**3 / 6], axis=1)
    return (base.astype(np.int64) - 1), np.ascontiguousarray(w)


@njit(nogil=True, cache=True)
def _evaluate(coef, y0, wy, x0, wx):  # pragma: no cover - compiled; tested against scipy
    ny_out, nx_out = y0.shape[0], x0.shape[0]
    rows = coef.shape[0]
    along_x = np.empty((rows, nx_out), np.float64)
    for r in range(rows):
        c = coef[r]
        out = along_x[r]
        for j in range(nx_out):
            k = x0[j]
            out[j] = (wx[j, 0] * c[k] + wx[j, 1] * c[k + 1] + wx[j, 2] * c[k + 2]
                      + wx[j, 3] * c[k + 3])
    result = np.empty((ny_out, nx_out), np.float64)
    for i in range(ny_out):
        k = y0[i]
        a, b, c, d = wy[i, 0], wy[i, 1], wy[i, 2], wy[i, 3]
        r0, r1, r2, r3 = along_x[k], along_x[k + 1], along_x[k + 2], along_x[k + 3]
        out = result[i]
        for j in range(nx_out):
            out[j] = a * r0[j] + b * r1[j] + c * r2[j] + d * r3[j]
    return result


def zoom_cubic(image: np.ndarray, factor: int) -> np.ndarray:
    """``scipy.ndimage.zoom(image, factor, order=3, mode="nearest")`` of a 2-D image, float64."""
    from scipy.ndimage import spline_filter

    a = np.asarray(image, np.float64)
    ny, nx = a.shape
    coef = spline_filter(np.pad(a, _NPAD, mode="edge"), 3, output=np.float64, mode="nearest")
    y0, wy = _taps(ny, round(ny * factor))
    x0, wx = _taps(nx, round(nx * factor))
    return _evaluate(np.ascontiguousarray(coef), y0, wy, x0, wx)
