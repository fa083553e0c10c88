"""Pixel-driven parallel-beam back-projection with linear interpolation, batched over slices.

Geometry (the one convention of :mod:`napari_specktrack.tomo`): output pixel (row i,
column j) of an N × N slice sits at X = j − (N−1)/2, Y = i − (N−1)/2 from the rotation axis;
at angle θ it projects onto the detector column u = c + X cos θ − Y sin θ, c = ``center_px``
(0-based, sub-pixel). This is the geometry of ``skimage.transform.radon``/``iradon`` (whose
axis and output centre are at N//2, the same point for odd N).

Why this design (numbers from ``benchmarks/bench_fbp.py``): the back-projection of a batch of
S slices is a sparse matrix (pixels × angles·detector, two weights per pixel and angle) times
the filtered sinograms laid out (angles·detector, S). The matrix depends only on the geometry,
so its indices and weights are computed once per image tile and shared by all S slices, and
each gather moves a contiguous vector of S values. The product runs in torch's
``embedding_bag`` (sum mode: one bag per output pixel, summed in a fixed order by one thread,
so the result is deterministic; threads split pixels, never angles). Linear interpolation
q(u) = q[i] + w·(q[i+1] − q[i]) is written as two bags: one unweighted over the table q, one
weighted by w over the table of differences, which halves the index work against weight
pairs. Tiles of T × T pixels keep the table rows one tile touches in cache. No compiled
extension is needed, and the same code runs on a CUDA device.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import CancelledError

#: tile side in pixels per device type (CPU: the table rows of a tile stay in L2)
TILE_PX = {"cpu": 32, "cuda": 128}
#: tiles per torch call per device type: the same CPU time as one per call (measured 82 vs
#: 88 ms per 1023-px slice, 1 thread), but 16× fewer thread fork/joins, which cost most when
#: other programs load the CPU (2 threads under full load: 0.24 vs 2.0 s per slice)
TILES_PER_CALL = {"cpu": 16, "cuda": 4}


class Backprojector:
    """Back-projects filtered sinograms of S slices onto N × N slices.

    Parameters
    ----------
    n_det
        Detector columns N (the output slices are N × N pixels).
    angles_rad
        Projection angles θ in radians, (A,).
    center_px
        Rotation axis as a detector column (0-based, sub-pixel).
    circle
        Keep only the disk of radius min(c, N−1−c) pixels about the output centre: the
        voxels every projection sees. Outside it the slice is 0. With ``circle=False`` the
        whole square is computed; the detector is taken as 0 beyond its edges.
    device
        torch device string.
    tile_px
        Tile side in pixels (default :data:`TILE_PX` for the device type).
    tile_stride
        Keep every ``tile_stride``-th tile only (a sparse sample of the slice, for the
        centre search); 1 = all tiles.
    radius_px
        Radius of the kept disk instead of min(c, N−1−c) (the centre search keeps one pixel
        set for all candidate centres).
    tiles_per_call
        Tiles computed by one torch call (default :data:`TILES_PER_CALL`); ``cancel()`` is
        checked before each call.
    region_px
        (y0, y1, x0, x1): compute only the tiles that meet this rectangle of the slice (a
        zoomed preview); the rest of the slice stays 0.
    """

    def __init__(self, n_det: int, angles_rad, center_px: float, *, circle: bool = True,
                 device: str = "cpu", tile_px: int | None = None, tile_stride: int = 1,
                 radius_px: float | None = None, tiles_per_call: int | None = None,
                 region_px: tuple[int, int, int, int] | None = None) -> None:
        import torch

        self.device = torch.device(device)
        self.n_det = n = int(n_det)
        self.tile_px = t = int(tile_px or TILE_PX.get(self.device.type, 128))
        theta = np.asarray(angles_rad, dtype=np.float64)
        self.n_angles = theta.size
        c = float(center_px)
        g = (n - 1) / 2.0
        self.radius_px = min(c, n - 1 - c) if circle else math.inf
        if radius_px is not None:
            self.radius_px = float(radius_px)
        self.n_tiles_side = nt = -(-n // t)
        tiles = self._tiles(nt, t, g, n)[:: max(int(tile_stride), 1)]
        if region_px is not None:  # only the tiles that meet rows y0:y1, columns x0:x1
            y0, y1, x0, x1 = region_px
            tiles = [(ty, tx) for ty, tx in tiles
                     if ty * t < y1 and ty * t + t > y0 and tx * t < x1 and tx * t + t > x0]
        self.tiles = tiles
        # farthest used pixel from the centre → detector margin that keeps every index valid
        corners = np.array([(ty * t + dy - g, tx * t + dx - g) for ty, tx in tiles
                            for dy in (0, t - 1) for dx in (0, t - 1)])
        r_max = float(np.hypot(corners[:, 0], corners[:, 1]).max()) if tiles else 0.0
        self.margin = m = math.ceil(max(r_max - min(c, n - 1 - c), 0.0)) + 2
        self.n_padded = n + 2 * m
        cos, sin = np.cos(theta), np.sin(theta)
        yy, xx = np.divmod(np.arange(t * t), t)
        local = xx[:, None] * cos[None, :] - yy[:, None] * sin[None, :]
        origin = np.array([(tx * t - g, ty * t - g) for ty, tx in tiles]).reshape(-1, 2)
        base = origin[:, :1] * cos[None, :] - origin[:, 1:] * sin[None, :] + (c + m)
        f32 = dict(dtype=torch.float32, device=self.device)
        self._local = torch.as_tensor(local, **f32)
        self._base = torch.as_tensor(base, **f32)
        i32 = dict(dtype=torch.int32, device=self.device)
        self._row_offset = torch.arange(self.n_angles, **i32) * self.n_padded
        self.tiles_per_call = max(1, int(tiles_per_call or TILES_PER_CALL.get(self.device.type, 1)))
        n_bags = t * t * min(self.tiles_per_call, max(len(tiles), 1))
        self._bag_offsets = torch.arange(0, n_bags * self.n_angles, self.n_angles, **i32)

    def _tiles(self, nt: int, t: int, g: float, n: int) -> list[tuple[int, int]]:
        """Tiles (ty, tx) that hold at least one pixel inside the kept disk."""
        out = []
        for ty in range(nt):
            for tx in range(nt):
                y0, y1 = ty * t - g, min(ty * t + t - 1, n - 1) - g
                x0, x1 = tx * t - g, min(tx * t + t - 1, n - 1) - g
                dy = 0.0 if y0 <= 0 <= y1 else min(abs(y0), abs(y1))
                dx = 0.0 if x0 <= 0 <= x1 else min(abs(x0), abs(x1))
                if math.hypot(dx, dy) <= self.radius_px:
                    out.append((ty, tx))
        return out

    def tables(self, filtered):
        """Interpolation tables from filtered rows (A, S, N): values and forward differences,
        each (A·N_padded, S), zero beyond the detector."""
        import torch

        a, s, n = filtered.shape
        m = self.margin
        values = torch.zeros((a, self.n_padded, s), dtype=torch.float32, device=self.device)
        values[:, m:m + n, :] = filtered.transpose(1, 2)
        diffs = torch.zeros_like(values)
        torch.sub(values[:, 1:], values[:, :-1], out=diffs[:, :-1])
        return values.view(-1, s), diffs.view(-1, s)

    def _run(self, filtered, sink, cancel):
        """Back-project filtered rows (A, S, N) tile by tile; ``sink(k, res)`` takes tile k's
        result (T·T, S) in row-major pixel order. ``tiles_per_call`` tiles share each torch
        call (fewer thread fork/joins, which cost most when other programs load the CPU)."""
        import torch
        import torch.nn.functional as F

        values, diffs = self.tables(filtered)
        t2, a, batch = self.tile_px ** 2, self.n_angles, self.tiles_per_call
        pos = torch.empty((batch, t2, a), dtype=torch.float32, device=self.device)
        index = torch.empty((batch, t2, a), dtype=torch.int32, device=self.device)
        for k0 in range(0, len(self.tiles), batch):
            if cancel is not None and cancel():
                raise CancelledError("reconstruction cancelled")
            nb = min(batch, len(self.tiles) - k0)
            p, i = pos[:nb], index[:nb]
            # padded detector position u + m of every pixel and angle
            torch.add(self._local, self._base[k0:k0 + nb, None, :], out=p)
            i.copy_(p)  # truncation = floor, since the position is ≥ 2 by the margin
            i.add_(self._row_offset)
            p.frac_()  # the linear-interpolation weight w
            flat, offsets = i.view(-1), self._bag_offsets[: nb * t2]
            res = F.embedding_bag(flat, values, offsets, mode="sum")
            res += F.embedding_bag(flat, diffs, offsets, mode="sum", per_sample_weights=p.view(-1))
            for j in range(nb):
                sink(k0 + j, res[j * t2:(j + 1) * t2])

    def tile_slices(self, filtered, cancel: Callable[[], bool] | None = None):
        """Back-project filtered rows (A, S, N) onto the kept tiles: (n_tiles, T·T, S)."""
        import torch

        out = torch.empty((len(self.tiles), self.tile_px ** 2, filtered.shape[1]),
                          dtype=torch.float32, device=self.device)

        def keep(k, res):
            out[k] = res

        self._run(filtered, keep, cancel)
        return out

    def slices(self, filtered, cancel: Callable[[], bool] | None = None):
        """Back-project filtered rows (A, S, N) to slices (S, N, N) float32 (torch)."""
        import torch

        s, t, n = filtered.shape[1], self.tile_px, self.n_det
        out = torch.zeros((s, n, n), dtype=torch.float32, device=self.device)

        def place(k, res):
            ty, tx = self.tiles[k]
            y0, x0 = ty * t, tx * t
            h, w = min(t, n - y0), min(t, n - x0)
            out[:, y0:y0 + h, x0:x0 + w] = res.view(t, t, s).permute(2, 0, 1)[:, :h, :w]

        self._run(filtered, place, cancel)
        if math.isfinite(self.radius_px):
            out.masked_fill_(~self.disk_mask(), 0.0)
        return out

    def inside_tiles(self) -> np.ndarray:
        """(n_tiles, T·T) bool: the pixels of each kept tile inside the image and the disk."""
        t, g = self.tile_px, (self.n_det - 1) / 2.0
        yy, xx = np.divmod(np.arange(t * t), t)
        org = np.array(self.tiles).reshape(-1, 2) * t
        y, x = org[:, :1] + yy[None, :], org[:, 1:] + xx[None, :]
        inside = (y < self.n_det) & (x < self.n_det)
        return inside & ((y - g) ** 2 + (x - g) ** 2 <= self.radius_px ** 2)

    def disk_mask(self):
        """(N, N) bool tensor: True inside the kept disk."""
        import torch

        r = torch.arange(self.n_det, dtype=torch.float64, device=self.device) - (self.n_det - 1) / 2.0
        return r[:, None] ** 2 + r[None, :] ** 2 <= self.radius_px ** 2
