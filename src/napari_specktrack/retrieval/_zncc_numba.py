"""The ZNCC search compiled for the CPU (numba): running window sums, one pass per row and shift.

On the CPU the search is memory-bound in array code: every trial shift writes and re-reads
full-size product and window-sum images. Compiled, a row's window sums for one shift follow
from the previous row's by adding the product entering the window and removing the one
leaving it (column sums, float64), then sliding along the row, so each (pixel, shift) costs a
few arithmetic operations on data that stays in the cache: ≈ 2× the torch search's speed on one
or two threads here (``benchmarks/bench_retrieval.py``). Blocks of :data:`BLOCK_ROWS` rows run in
parallel on Python threads (the kernel releases the GIL); each starts its column sums afresh,
so the result does not depend on the number of threads. Not numba's ``parallel=True``: its
OpenMP workers spin after each call on the cores torch then needs, which made torch's next
small operations 100× slower here.

It computes exactly what the torch search of :mod:`.zncc` computes (the GPU path, and the
reference in the tests): per pixel the maximum over the shifts of
(⟨N · R_u⟩ − ⟨N⟩⟨R_u⟩) / σ(R_u) — the ZNCC times σ(N) — its integer shift, and the nine values
around it for the sub-pixel fit.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

#: rows of one parallel block (its column sums start afresh: a fixed size keeps the result
#: independent of the thread count)
BLOCK_ROWS = 64
_POOLS: dict[int, ThreadPoolExecutor] = {}


@njit(nogil=True, cache=True)
def _search_block(n_pad, r_pad, n_mean, r_mean, r_inv_std, w, s, b0, b1, y0, best_out, peak_out,
                  nine_out):  # pragma: no cover - compiled; tested through search_rows
    """Rows [b0, b1) of the search; outputs indexed from row y0."""
    g = 2 * s + 1
    k = g * g
    nxp = n_pad.shape[1]
    nx = nxp - (w - 1)
    inv_area = 1.0 / float(w * w)
    q = (nx + 3) // 4
    col = np.zeros((k, nxp), np.float64)
    z = np.empty((k, nx), np.float32)
    best = np.empty(nx, np.float32)
    idx = np.empty(nx, np.int64)
    for y in range(b0, b1):
        for u in range(k):
            ry = s - (u // g - s)  # reference row offset: padded row y + ry is row y − dy
            rx = s - (u % g - s)
            cu = col[u]
            if y == b0:
                for a in range(w):
                    for x in range(nxp):
                        cu[x] += n_pad[y + a, x] * r_pad[y + a + ry, x + rx]
            else:
                yi = y + w - 1  # the row entering the window
                yo = y - 1  # the row leaving it
                for x in range(nxp):
                    cu[x] += (n_pad[yi, x] * r_pad[yi + ry, x + rx]
                              - n_pad[yo, x] * r_pad[yo + ry, x + rx])
            # sums along the row: four running sums over the four quarters of the row, advanced
            # together (one chain of dependent additions is bound by their latency)
            zu = z[u]
            nm = n_mean[y]
            rm = r_mean[y + ry]
            ris = r_inv_std[y + ry]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for x in range(w):
                a0 += cu[x]
                if q + x < nxp:
                    a1 += cu[q + x]
                if 2 * q + x < nxp:
                    a2 += cu[2 * q + x]
                if 3 * q + x < nxp:
                    a3 += cu[3 * q + x]
            for i in range(q):
                if i > 0:
                    a0 += cu[i + w - 1] - cu[i - 1]
                    if q + i < nx:
                        a1 += cu[q + i + w - 1] - cu[q + i - 1]
                    if 2 * q + i < nx:
                        a2 += cu[2 * q + i + w - 1] - cu[2 * q + i - 1]
                    if 3 * q + i < nx:
                        a3 += cu[3 * q + i + w - 1] - cu[3 * q + i - 1]
                x = i
                if x < nx:
                    zu[x] = (a0 * inv_area - nm[x] * rm[x + rx]) * ris[x + rx]
                x = q + i
                if x < nx:
                    zu[x] = (a1 * inv_area - nm[x] * rm[x + rx]) * ris[x + rx]
                x = 2 * q + i
                if x < nx:
                    zu[x] = (a2 * inv_area - nm[x] * rm[x + rx]) * ris[x + rx]
                x = 3 * q + i
                if x < nx:
                    zu[x] = (a3 * inv_area - nm[x] * rm[x + rx]) * ris[x + rx]
        for x in range(nx):
            best[x] = z[0, x]
            idx[x] = 0
        for u in range(1, k):  # the first maximum in (dy, dx) order wins
            zu = z[u]
            for x in range(nx):
                if zu[x] > best[x]:
                    best[x] = zu[x]
                    idx[x] = u
        row = y - y0
        for x in range(nx):
            a = idx[x] // g
            b = idx[x] % g
            best_out[row, x] = best[x]
            peak_out[0, row, x] = a - s
            peak_out[1, row, x] = b - s
            ca = min(max(a, 1), g - 2)
            cb = min(max(b, 1), g - 2)
            for oy in range(3):
                for ox in range(3):
                    nine_out[oy * 3 + ox, row, x] = z[(ca + oy - 1) * g + cb + ox - 1, x]


def search_rows(n_pad: np.ndarray, r_pad: np.ndarray, n_mean: np.ndarray, r_mean: np.ndarray,
                r_inv_std: np.ndarray, w: int, s: int, y0: int, y1: int, threads: int):
    """The search for output rows [y0, y1): arrays as :func:`.zncc.correlate` prepares them
    (float32, C order). Returns ``best`` (rows, nx), ``peak`` (2, rows, nx) integer (dy, dx)
    and ``nine`` (9, rows, nx): the 3 × 3 values around the peak (its centre kept one shift
    inside the search grid), row-major in (dy, dx). Blocks of rows run on ``threads``
    threads (one pool per thread count, kept for the process)."""
    rows, nx = y1 - y0, n_mean.shape[1]
    best = np.empty((rows, nx), np.float32)
    peak = np.empty((2, rows, nx), np.int64)
    nine = np.empty((9, rows, nx), np.float32)
    args = (n_pad, r_pad, n_mean, r_mean, r_inv_std, int(w), int(s))
    outs = (int(y0), best, peak, nine)
    starts = range(int(y0), int(y1), BLOCK_ROWS)
    threads = max(1, min(int(threads), len(starts)))
    if threads == 1:
        for b0 in starts:
            _search_block(*args, b0, min(b0 + BLOCK_ROWS, int(y1)), *outs)
    else:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="zncc")
        jobs = [pool.submit(_search_block, *args, b0, min(b0 + BLOCK_ROWS, int(y1)), *outs)
                for b0 in starts]
        for job in jobs:
            job.result()
    return best, peak, nine
