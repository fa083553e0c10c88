"""The ZNCC search compiled for the CPU (numba): running window sums, one pass per row and shift.

On the CPU the search is memory-bound in array code: every trial shift writes and re-reads
full-size product and window-sum images. Compiled, a row's window sums for one shift follow
from the previous row's by adding the product entering the window and removing the one
leaving it (column sums), then summing along the row, so each (pixel, shift) costs a few
arithmetic operations on data that stays in the cache. Every inner loop is written to
vectorise (SIMD):

- the column sums are float32, restarted every :data:`BLOCK_ROWS` rows so that their rounding
  cannot build up (the ZNCC agrees with the float64 torch search to ≈ 3·10⁻⁷ of its range);
  float64 for windows under :data:`FLOAT32_SUMS_FROM_WINDOW` px;
- the sums along the row are built from sums of 2 and 4 neighbours in a few passes of
  independent additions (a running sum along the row is one chain of dependent additions,
  which no SIMD unit speeds up: it was two thirds of the previous kernel's time);
- the ZNCC and the running maximum share one pass.

The search of a 1024² frame (±5 px) takes ≈ 0.13 s on one thread here; the whole tracking is
2.7–2.9× faster than with the previous float64 running-sum kernel and ≈ 5× faster than the
torch search (``python benchmarks/bench_retrieval.py --baseline 0cd1a89``). Blocks of
:data:`BLOCK_ROWS` rows run in parallel on Python threads (the kernel releases the GIL); each
starts its column sums afresh, so the result does not depend on the number of threads. Not
numba's ``parallel=True``: its OpenMP workers spin after each call on the cores torch then
needs, which made torch's next small operations 100× slower here.

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
#: windows narrower than this (px) keep their running sums in float64: a 3 × 3 or 5 × 5 window
#: sum is small against the rounding of float32 running sums (ZNCC off by up to 3·10⁻⁴ from the
#: float64 torch search at 3 px, against ≈ 3·10⁻⁷ from 7 px on); they are cheap either way
FLOAT32_SUMS_FROM_WINDOW = 7
_POOLS: dict[int, ThreadPoolExecutor] = {}


@njit(nogil=True, cache=True)
def _search_block(n_pad, r_pad, n_mean, r_mean, r_inv_std, w, s, b0, b1, y0, best_out, peak_out,
                  nine_out, sums):  # pragma: no cover - compiled; tested through search_rows
    """Rows [b0, b1) of the search; outputs indexed from row y0; the running sums in the dtype
    of ``sums`` (a one-element array)."""
    g = 2 * s + 1
    k = g * g
    nxp = n_pad.shape[1]
    nx = nxp - (w - 1)
    inv_area = 1.0 / float(w * w)
    col = np.zeros((k, nxp), sums.dtype)  # per shift: the window's column sums, running down
    z = np.empty((k, nx), np.float32)
    c2 = np.empty(nxp, sums.dtype)
    c4 = np.empty(nxp, sums.dtype)
    acc = np.empty(nx, sums.dtype)
    best = np.empty(nx, np.float32)
    idx = np.empty(nx, np.int64)
    for y in range(b0, b1):
        for u in range(k):
            ry = s - (u // g - s)  # reference row offset: padded row y + ry is row y − dy
            rx = s - (u % g - s)
            cu = col[u]
            if y == b0:
                for a in range(w):
                    nr = n_pad[y + a]
                    rr = r_pad[y + a + ry, rx:rx + nxp]
                    for x in range(nxp):
                        cu[x] += nr[x] * rr[x]
            else:  # add the product row entering the window, remove the one leaving it
                ni = n_pad[y + w - 1]
                ri = r_pad[y + w - 1 + ry, rx:rx + nxp]
                no = n_pad[y - 1]
                ro = r_pad[y - 1 + ry, rx:rx + nxp]
                for x in range(nxp):
                    cu[x] += ni[x] * ri[x] - no[x] * ro[x]
            # window sums along the row from sums of 2 and 4 neighbours: a few passes of
            # independent additions over a cache-resident row (they vectorise; a running sum
            # along the row is one chain of dependent additions)
            c1 = cu[1:nxp]
            for x in range(nxp - 1):
                c2[x] = cu[x] + c1[x]
            d = c2[2:nxp - 1]
            for x in range(nxp - 3):
                c4[x] = c2[x] + d[x]
            if w >= 4:
                for x in range(nx):
                    acc[x] = c4[x]
            else:
                acc[:] = 0.0
            for j in range(1, w // 4):
                d = c4[4 * j:4 * j + nx]
                for x in range(nx):
                    acc[x] += d[x]
            if w % 4 == 3:
                d = c2[w - 3:w - 3 + nx]
                for x in range(nx):
                    acc[x] += d[x]
            last = cu[w - 1:w - 1 + nx]
            zu = z[u]
            nm = n_mean[y]
            rm = r_mean[y + ry, rx:rx + nx]
            ris = r_inv_std[y + ry, rx:rx + nx]
            if u == 0:
                for x in range(nx):
                    zu[x] = ((acc[x] + last[x]) * inv_area - nm[x] * rm[x]) * ris[x]
                    best[x] = zu[x]
                    idx[x] = 0
            else:
                for x in range(nx):
                    zu[x] = ((acc[x] + last[x]) * inv_area - nm[x] * rm[x]) * ris[x]
                    v = zu[x]  # compared as stored (float32)
                    if v > best[x]:  # the first maximum in (dy, dx) order wins
                        best[x] = v
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
    sums = np.zeros(1, np.float32 if w >= FLOAT32_SUMS_FROM_WINDOW else np.float64)
    outs = (int(y0), best, peak, nine, sums)
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
