"""The retrieval's compiled kernels against the code they replaced, side by side in one process.

Each row times the replacement and its reference on the same 1024² inputs, interleaved, and
reports medians and their ratio (one torch/numba thread; a warm-up call each, not counted):

- outlier test: ``tracking._consistent`` compiled vs the array code (scipy min/max filters and
  a median where they cannot decide), on the tracked displacement of a simulated foam frame;
- in-painting: ``tracking.inpaint`` compiled (ring search + hole-only smoothing) vs the array
  code (scipy's Euclidean distance transform + a 5 × 5 box filter), same frame;
- hot-pixel test: ``signals.remove_hot_pixels`` compiled vs the filters;
- Frankot–Chellappa: the sine/cosine-transform form vs FFTs of the explicit 2 × 2 mirror
  extension (the previous implementation, rebuilt here from ``integrate._mirror``);
- the fusion's 2× cubic-spline upsampling: ``_spline_zoom.zoom_cubic`` vs ``scipy.ndimage.zoom``;
- the batch store's write of one frame's six float32 fields: Blosc LZ4 + shuffle vs zarr 3's
  default Zstandard.

    python benchmarks/bench_kernels.py [--repeats 7]

These machines are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _fc_mirror_fft(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Frankot–Chellappa by FFTs of the 2 × 2 mirror extension (the replaced implementation)."""
    from scipy import fft

    from napari_specktrack.retrieval.integrate import _mirror

    ny, nx = gx.shape
    gx_e, gy_e = _mirror(gx, gy, np.float32)
    qy = 2 * np.pi * fft.fftfreq(gx_e.shape[0])[:, None]
    qx = 2 * np.pi * fft.rfftfreq(gx_e.shape[1])[None, :]
    q2 = qx**2 + qy**2
    q2[0, 0] = 1.0
    spec = fft.rfft2(gx_e) * (-1j * qx / q2).astype(np.complex64)
    spec += fft.rfft2(gy_e) * (-1j * qy / q2).astype(np.complex64)
    spec[0, 0] = 0.0
    return fft.irfft2(spec, s=gx_e.shape)[:ny, :nx]


def _write_fields(path: Path, compressors, fields: list[np.ndarray]) -> None:
    import zarr

    shutil.rmtree(path, ignore_errors=True)
    group = zarr.open_group(str(path), mode="w-")
    for k, a in enumerate(fields):
        group.create_array(f"f{k}", shape=(1, *a.shape), chunks=(1, *a.shape), dtype="float32",
                           fill_value=0, compressors=compressors)[0] = a


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args(argv)

    import torch
    import zarr
    from scipy.ndimage import zoom

    from napari_specktrack.retrieval import integrate as integ
    from napari_specktrack.retrieval._spline_zoom import zoom_cubic
    from napari_specktrack.retrieval.signals import remove_hot_pixels
    from napari_specktrack.retrieval.tracking import _consistent, inpaint, track
    from napari_specktrack.simulate import simulate

    torch.set_num_threads(1)
    acq = simulate("foam", args.size, seed=1)
    res = track(acq.sample, acq.reference, window_px=13, search_px=5)
    dx, dy, valid = res.dx_px, res.dy_px, res.valid
    rng = np.random.default_rng(0)
    kept = valid & (rng.random(valid.shape) > 0.03)  # the tracker's flags plus 3 % scattered holes
    gx, gy = integ.displacement_to_gradient(dx, dy, acq.geometry)
    phase = np.pad(acq.truth_phase, 40, mode="reflect")
    fields = [np.asarray(a, np.float32) for a in (acq.truth_phase, acq.truth_transmission,
                                                  acq.truth_darkfield, dx, dy, res.quality)]
    tmp = Path(tempfile.mkdtemp())
    from zarr.codecs import BloscCodec

    cases = {
        "outlier test": (lambda: _consistent(dx, dy, valid),
                         lambda: _consistent(dx, dy, valid, compiled=False)),
        "in-painting": (lambda: inpaint([dx, dy], kept),
                        lambda: inpaint([dx, dy], kept, compiled=False)),
        "hot-pixel test": (lambda: remove_hot_pixels(acq.sample),
                           lambda: remove_hot_pixels(acq.sample, compiled=False)),
        "Frankot-Chellappa": (lambda: integ.frankot_chellappa(gx, gy),
                              lambda: _fc_mirror_fft(gx, gy)),
        "2x spline upsampling": (lambda: zoom_cubic(phase, 2),
                                 lambda: zoom(phase, 2, order=3, mode="nearest")),
        "store write, 6 fields": (
            lambda: _write_fields(tmp / "a.zarr", BloscCodec(cname="lz4", clevel=5,
                                                             shuffle="shuffle"), fields),
            lambda: _write_fields(tmp / "b.zarr", "auto", fields)),
    }
    print(f"{args.size}² foam frame, one thread, medians of {args.repeats} interleaved runs "
          f"(zarr {zarr.__version__})\n")
    print("| kernel | new (s) | replaced (s) | speed-up |")
    print("|---|---|---|---|")
    for name, (new, old) in cases.items():
        new(), old()
        t_new, t_old = [], []
        for _ in range(args.repeats):
            for f, times in ((new, t_new), (old, t_old)):
                t = time.perf_counter()
                f()
                times.append(time.perf_counter() - t)
        a, b = statistics.median(t_new), statistics.median(t_old)
        print(f"| {name} | {a:.4f} | {b:.4f} | {b / a:.1f}× |", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
