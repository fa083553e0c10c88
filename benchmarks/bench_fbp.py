"""FBP speed and accuracy per slice: ours against scikit-image's iradon and astra's CPU FBP.

One run, the same sinograms for every method: an **analytic** modified Shepp–Logan phantom
(Toft's ellipses, range 0–1, outer ellipse 0.92·N/2), its exact line integrals averaged over
each detector pixel, 360 angles over [0°, 180°), the axis at (N−1)/2 (N odd, so every
library's output grid is the same). Truth: the phantom averaged over 4 × 4 sub-samples of
each output pixel. Error: RMSE over the disk r ≤ N/2 − 2 (phantom range 1). Neither the data
nor the truth comes from a discrete projector, so no method is favoured (no inverse crime).

Methods (Shepp–Logan filter everywhere):
- ``skimage``: ``skimage.transform.iradon`` (one thread);
- ``astra``: astra-toolbox ``FBP`` with the CPU ``linear`` projector (one thread; skipped
  when astra is not importable). Its output has our orientation with angles +θ in radians;
- ``ours 1``: :func:`napari_specktrack.tomo.reconstruct_slice`, one slice (torch threads);
- ``ours B``: a slab of B slices in one :func:`~napari_specktrack.tomo.reconstruct` call,
  time per slice (the index work is shared by the slab; this is what a volume run does).

The projected 1024³ time is ``ours B`` per slice at N = 1023 × 1024 slices; ``--volume``
also runs a real 1024 × 1024-column × 1024-row, 360-angle volume through ``iter_slabs``.

Before each timed call the script waits (up to ``--quiet-wait`` s) until the other load on
the machine is below 25 % of a core, and prints the load it saw; ratios within one run are
the figures to quote.

    python benchmarks/bench_fbp.py [--sizes 511 1023 2047] [--repeats 3] [--batch 32]
                                   [--volume] [--skip-astra]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

# Toft's modified Shepp–Logan: value, semi-axes a, b, centre x0, y0 (units of N/2), angle (°)
ELLIPSES = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0), (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18), (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0), (0.1, 0.046, 0.046, 0.0, 0.1, 0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0), (0.1, 0.046, 0.023, -0.08, -0.605, 0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0), (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def _ellipses_px(n):
    """Ellipses in pixel units about the slice centre: X = column offset, Y = row offset
    (down), so the phantom stands upright."""
    s = n / 2.0
    for v, a, b, x0, y0, phi in ELLIPSES:
        yield v, a * s, b * s, x0 * s, -y0 * s, -math.radians(phi)


def analytic_sinogram(n, theta_rad):
    """(angles, n) line integrals of the phantom, averaged over each detector pixel exactly;
    detector column u = (N−1)/2 + X cos θ − Y sin θ (the tomo convention)."""
    u = np.arange(n) - (n - 1) / 2.0
    lo, hi = u - 0.5, u + 0.5
    out = np.zeros((theta_rad.size, n))
    cos, sin = np.cos(theta_rad)[:, None], np.sin(theta_rad)[:, None]
    for v, a, b, x0, y0, phi in _ellipses_px(n):
        # unit detector direction e = (cos θ, −sin θ) in (X, Y); half-width of the ellipse along e
        eu = cos * math.cos(phi) - sin * math.sin(phi)
        ev = -cos * math.sin(phi) - sin * math.cos(phi)
        w = np.sqrt((a * eu) ** 2 + (b * ev) ** 2)
        t0 = x0 * cos - y0 * sin

        def prim(s, w=w, t0=t0):  # ∫ sqrt(w² − s²) ds, clipped to the chord
            z = np.clip(s - t0, -w, w)
            return 0.5 * (z * np.sqrt(w * w - z * z) + w * w * np.arcsin(z / w))

        out += v * 2 * a * b / w**2 * (prim(hi) - prim(lo))
    return out


def phantom_truth(n, sub=4):
    """The phantom averaged over sub × sub samples of each output pixel, (n, n)."""
    off = (np.arange(sub) + 0.5) / sub - 0.5
    g = np.arange(n) - (n - 1) / 2.0
    Y = (g[:, None] + off[None, :]).reshape(-1)
    X = Y.copy()
    img = np.zeros((Y.size, X.size))
    for v, a, b, x0, y0, phi in _ellipses_px(n):
        dx, dy = X[None, :] - x0, Y[:, None] - y0
        p = dx * math.cos(phi) + dy * math.sin(phi)
        q = -dx * math.sin(phi) + dy * math.cos(phi)
        img += v * ((p / a) ** 2 + (q / b) ** 2 <= 1)
    return img.reshape(n, sub, n, sub).mean(axis=(1, 3))


def rmse_disk(rec, truth):
    n = truth.shape[0]
    r = np.hypot(*(np.mgrid[0:n, 0:n] - (n - 1) / 2))
    d = r <= n / 2 - 2
    return float(np.sqrt(np.mean((rec[d] - truth[d]) ** 2)))


def other_load(window_s=0.5):
    """Busy fraction of all cores, over window_s, from /proc/stat (this process is idle)."""
    def snap():
        with open("/proc/stat") as f:
            vals = [float(x) for x in f.readline().split()[1:]]
        return sum(vals), vals[3] + vals[4]
    t0, i0 = snap()
    time.sleep(window_s)
    t1, i1 = snap()
    return 1.0 - (i1 - i0) / max(t1 - t0, 1e-9)


def wait_quiet(limit_s, ncores, threshold_cores=0.25):
    t_end = time.time() + limit_s
    while True:
        load = other_load() * ncores
        if load < threshold_cores or time.time() > t_end:
            return load


def astra_fbp(sino, theta_rad):
    import astra

    n = sino.shape[1]
    vol = astra.create_vol_geom(n, n)
    proj = astra.create_proj_geom("parallel", 1.0, n, theta_rad)
    pid = astra.create_projector("linear", proj, vol)
    sid = astra.data2d.create("-sino", proj, sino)
    rid = astra.data2d.create("-vol", vol)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid,
               FilterType="shepp-logan")
    alg = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(alg)
        return astra.data2d.get(rid)
    finally:
        astra.algorithm.delete(alg)
        astra.data2d.delete([sid, rid])
        astra.projector.delete(pid)


def timed(fn, repeats, args):
    """Median wall and CPU seconds of ``repeats`` calls (after a warm-up call), the result, and
    the largest other load seen just before a call (in cores)."""
    out = fn()
    wall, cpu, loads = [], [], []
    for _ in range(repeats):
        loads.append(wait_quiet(args.quiet_wait, args.ncores))
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return (statistics.median(wall), statistics.median(cpu)), out, max(loads)


def bench_size(n, args, have_astra):
    from skimage.transform import iradon

    from napari_specktrack.tomo import projection_angles_deg, reconstruct, reconstruct_slice

    theta_deg = projection_angles_deg(0, 180, args.angles)
    sino = analytic_sinogram(n, np.deg2rad(theta_deg)).astype(np.float32)
    truth = phantom_truth(n)
    c = (n - 1) / 2.0
    rows = {}
    reps = 1 if n > 1500 else args.repeats
    t, rec, load = timed(lambda: iradon(sino.T.astype(np.float64), theta=theta_deg,
                                        filter_name="shepp-logan"), reps, args)
    rows["skimage iradon"] = (t, rmse_disk(rec, truth), load)
    ref = rec
    if have_astra:
        t, rec, load = timed(lambda: astra_fbp(sino, np.deg2rad(theta_deg)), reps, args)
        rows["astra CPU linear"] = (t, rmse_disk(rec, truth), load)
    t, rec, load = timed(lambda: reconstruct_slice(sino, (0, 180), c), args.repeats, args)
    rows["ours, 1 slice"] = (t, rmse_disk(rec, truth), load)
    agree = float(np.sqrt(np.mean((rec - ref) ** 2)) / np.ptp(ref))
    stack = np.repeat(sino[:, None, :], args.batch, axis=1)
    t, vol, load = timed(lambda: reconstruct(stack, (0, 180), c, slab_rows=args.batch),
                         args.repeats, args)
    rows[f"ours, {args.batch}-slice slab"] = ((t[0] / args.batch, t[1] / args.batch),
                                              rmse_disk(vol[-1], truth), load)
    return rows, agree


def bench_volume(args):
    """A real 1024-row, 1024-column, 360-angle volume through iter_slabs (random data)."""
    from napari_specktrack.tomo import iter_slabs

    stack = np.random.default_rng(0).normal(size=(args.angles, 1024, 1024)).astype(np.float32)
    load = wait_quiet(args.quiet_wait, args.ncores)
    t, c = time.perf_counter(), time.process_time()
    n = sum(s.shape[0] for _, s in iter_slabs(stack, (0, 180), 511.5))
    return (time.perf_counter() - t, time.process_time() - c), n, load


def main(argv=None):
    import os

    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[511, 1023, 2047])
    p.add_argument("--angles", type=int, default=360)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=32, help="slices per slab for 'ours, slab'")
    p.add_argument("--volume", action="store_true", help="also run a real 1024³ volume")
    p.add_argument("--skip-astra", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's; 1 gives CPU times robust to other load)")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="seconds to wait for other load < 0.25 core before each timing")
    args = p.parse_args(argv)
    args.ncores = os.cpu_count() or 1
    if args.threads:
        torch.set_num_threads(args.threads)
    have_astra = False
    if not args.skip_astra:
        try:
            import astra  # noqa: F401

            have_astra = True
        except ImportError:
            print("astra-toolbox not importable: its column is skipped (pip install astra-toolbox)")
    print(f"{args.angles} angles over [0°, 180°), Shepp–Logan filter; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, {args.ncores} cores")
    print(f"{'N':>5} {'method':<22} {'wall s':>8} {'CPU s':>8} {'RMSE':>7} "
          f"{'iradon/this wall':>16} {'CPU':>6} {'load':>5}   (per slice)")
    per_slice_1023 = None
    for n in args.sizes:
        rows, agree = bench_size(n, args, have_astra)
        base = rows["skimage iradon"][0]
        for name, (t, err, load) in rows.items():
            print(f"{n:>5} {name:<22} {t[0]:>8.3f} {t[1]:>8.3f} {err:>7.4f} "
                  f"{base[0] / t[0]:>15.1f}× {base[1] / t[1]:>5.1f}× {load:>5.2f}")
        print(f"{n:>5} ours vs iradon: normalised RMSE {agree:.1e}")
        if n == 1023:
            per_slice_1023 = rows[f"ours, {args.batch}-slice slab"][0][0]
    if per_slice_1023 is not None:
        print(f"projected 1024³ volume (1024 slices × ours slab per slice at 1023 px): "
              f"{per_slice_1023 * 1024:.0f} s")
    if args.volume:
        t, n, load = bench_volume(args)
        print(f"measured 1024³ volume (1024 rows × 1024 columns × {args.angles} angles, default "
              f"slabs): {t[0]:.0f} s wall, {t[1]:.0f} s CPU for {n} slices (other load before "
              f"the start {load:.2f} cores)")


if __name__ == "__main__":
    main()
