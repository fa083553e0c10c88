"""Single-shot retrieval speed and accuracy, ours against algotom, on the same simulated pair.

Simulates one ``spheres`` acquisition (default settings; seed 1), then runs

- ours: ``retrieval.conventional`` (ZNCC, window 11 px, search ±5 px, Frankot–Chellappa) with
  each tracking engine — ``compiled`` (the CPU default, numba) and ``torch`` (the GPU path, the
  CPU default before it) — interleaved, ``--repeats`` times each (medians reported; a warm-up
  call, which also loads the compiled kernel, is not counted); the tracking alone
  (``retrieval.tracking.track``) is timed the same way;
- the peer: ``algotom.prep.phase.retrieve_phase_based_speckle_tracking`` (single-shot 2-D
  correlation, win_size 11, margin 5, ncore 2, Frankot–Chellappa), once after a small warm-up
  that pays numba's JIT. algotom returns −u and a phase in px²; both are converted to our
  convention (u in px, φ in rad) before scoring.

Errors are scored ≥ 16 px from the border, separately on the interior and on the edge ring
(pixels within 6 px of a sharp interface, where the true |u| > 1 px: the rims whose singular
gradient no window follows): displacement RMS per component in px, and phase RMS (offset
removed over the scored area) as a fraction of the true phase range.
Peak memory of ours at 2048² is measured in a separate subprocess.

    python benchmarks/bench_retrieval.py [--size 1024] [--repeats 5] [--threads 2] [--skip-algotom]
                                         [--baseline a649bf3]

``--baseline REV`` also times the tracker as it was at git revision REV (its tracking modules,
loaded from git into this process), interleaved with the others: the before/after figure of a
change to the tracking.

These machines are noisy: compare the ratio within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

MEMORY_CHILD = r"""
import json, sys
def hwm_gb():
    # peak resident memory of this process (VmHWM; unlike ru_maxrss it is reset by exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")
import time
import numpy as np
from napari_specktrack import Geometry
from napari_specktrack.retrieval import conventional
d = sys.argv[1]
sample, reference = np.load(d + "/sample.npy"), np.load(d + "/reference.npy")
base = hwm_gb() * 1e6
t = time.perf_counter()
conventional(sample, reference, Geometry(), window_px=11, search_px=5)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_gb": hwm_gb(),
                  "peak_before_gb": base / 1e6}))
"""


def score(dx, dy, phase, acq) -> dict:
    ring, core, area = acq.regions(border_px=16)
    e_dx = (dx - acq.truth_dx)[core]
    e_dy = (dy - acq.truth_dy)[core]
    e_ph = phase - acq.truth_phase
    e_ph = e_ph - e_ph[area].mean()
    rng = np.ptp(acq.truth_phase)
    return {
        "dx_rms_px": float(np.sqrt(np.mean(e_dx**2))),
        "dy_rms_px": float(np.sqrt(np.mean(e_dy**2))),
        "dx_median_abs_px": float(np.median(np.abs(e_dx))),
        "phase_rms_frac": float(np.sqrt(np.mean(e_ph[core] ** 2)) / rng),
        "ring_phase_rms_frac": float(np.sqrt(np.mean(e_ph[ring] ** 2)) / rng),
    }


ENGINES = ("compiled", "torch")


def load_baseline(rev: str):
    """``track`` as it was at git revision ``rev``: the tracking modules of that revision
    (``tracking.py`` and, where they exist, ``zncc.py`` and ``_zncc_numba.py``) loaded from git
    as a package of their own, their imports from elsewhere in napari_specktrack made absolute."""
    import importlib
    import sys as _sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pkg = Path(tempfile.mkdtemp()) / f"baseline_{rev.replace('-', '_')}"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("tracking.py", "zncc.py", "_zncc_numba.py"):
        shown = subprocess.run(["git", "show", f"{rev}:src/napari_specktrack/retrieval/{name}"],
                               cwd=root, capture_output=True, text=True)
        if shown.returncode == 0:  # a module the revision did not have is simply absent
            (pkg / name).write_text(shown.stdout.replace("from ..", "from napari_specktrack."))
    _sys.path.insert(0, str(pkg.parent))
    try:
        return importlib.import_module(f"{pkg.name}.tracking").track
    finally:
        _sys.path.remove(str(pkg.parent))


def run_ours(acq, repeats: int, baseline=None) -> dict:
    """Per engine: median seconds of the whole retrieval and of the tracking, and the scores;
    with ``baseline`` (a ``track`` function), its tracking time too."""
    from napari_specktrack.retrieval import conventional
    from napari_specktrack.retrieval.tracking import track

    kw = dict(window_px=11, search_px=5)
    out = {e: {"retrieve": [], "track": []} for e in ENGINES}
    base_times = []
    for e in ENGINES:  # warm-up: kernel load, allocator
        conventional(acq.sample, acq.reference, acq.geometry, tracking_engine=e, **kw)
    if baseline is not None:
        baseline(acq.sample, acq.reference, **kw)
    for _ in range(repeats):
        for e in ENGINES:
            t = time.perf_counter()
            r = conventional(acq.sample, acq.reference, acq.geometry, tracking_engine=e, **kw)
            out[e]["retrieve"].append(time.perf_counter() - t)
            t = time.perf_counter()
            track(acq.sample, acq.reference, engine=e, **kw)
            out[e]["track"].append(time.perf_counter() - t)
            out[e]["score"] = score(r.dx_px, r.dy_px, r.phase_rad, acq)
        if baseline is not None:
            t = time.perf_counter()
            baseline(acq.sample, acq.reference, **kw)
            base_times.append(time.perf_counter() - t)
    res = {e: {"retrieve": statistics.median(v["retrieve"]), "track": statistics.median(v["track"]),
               "score": v["score"]} for e, v in out.items()}
    if base_times:
        res["baseline_track"] = statistics.median(base_times)
    return res


def run_algotom(acq):
    import algotom.prep.phase as ps

    small = acq.reference[:64, :64]
    ps.retrieve_phase_based_speckle_tracking(small, small, find_shift="correl", win_size=11,
                                             margin=5, ncore=2, return_shift=True)
    t = time.perf_counter()
    x_sh, y_sh, phase_px2, _trans, _dark = ps.retrieve_phase_based_speckle_tracking(
        acq.reference, acq.sample, find_shift="correl", win_size=11, margin=5, method="diff",
        gpu=False, ncore=2, surf_method="FC", correct_negative=False, return_shift=True,
        dark_signal=True)
    dt = time.perf_counter() - t
    # algotom: shifts are −u; phase is ∫(shift) in px² → φ = −phase_px2 · k p² / (z M)
    phase = -np.asarray(phase_px2) * acq.geometry.phase_gradient_per_shift
    return dt, score(-np.asarray(x_sh), -np.asarray(y_sh), phase, acq)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-algotom", action="store_true")
    ap.add_argument("--baseline", metavar="REV", default=None,
                    help="also time the tracker as it was at this git revision (e.g. a649bf3)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch (and compiled kernel) threads; default: torch's (the cores)")
    ap.add_argument("--memory-size", type=int, default=2048)
    args = ap.parse_args()

    from napari_specktrack.simulate import simulate

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    acq = simulate("spheres", args.size, seed=1)
    vis = float(acq.reference.std() / acq.reference.mean())
    import torch

    print(f"spheres {args.size}², seed 1, reference visibility {vis:.3f}; window 11, search ±5; "
          f"{torch.get_num_threads()} threads")
    ours = run_ours(acq, args.repeats, load_baseline(args.baseline) if args.baseline else None)
    rows = [(f"ours, {e} engine", ours[e]["retrieve"], ours[e]["track"], ours[e]["score"])
            for e in ENGINES]
    if not args.skip_algotom:
        t_alg, s_alg = run_algotom(acq)
        rows.append(("algotom correl", t_alg, float("nan"), s_alg))
    print(f"{'code':<22} {'time s':>8} {'track s':>8} {'dx RMS px':>10} {'dy RMS px':>10} "
          f"{'|dx| med':>9} {'phase RMS':>10} {'ring phase':>11}")
    for name, t, tt, s in rows:
        print(f"{name:<22} {t:>8.3f} {tt:>8.3f} {s['dx_rms_px']:>10.3f} {s['dy_rms_px']:>10.3f} "
              f"{s['dx_median_abs_px']:>9.3f} {100 * s['phase_rms_frac']:>9.2f}% "
              f"{100 * s['ring_phase_rms_frac']:>10.2f}%")
    c, tr = ours["compiled"], ours["torch"]
    print(f"compiled over torch engine: tracking {tr['track'] / c['track']:.2f}×, "
          f"retrieval {tr['retrieve'] / c['retrieve']:.2f}× (medians of {args.repeats})")
    if args.baseline:
        print(f"tracking at {args.baseline} (baseline): {ours['baseline_track']:.3f} s → compiled "
              f"{ours['baseline_track'] / c['track']:.2f}× faster, torch "
              f"{ours['baseline_track'] / tr['track']:.2f}×")
    if not args.skip_algotom:
        print(f"speed-up over algotom (whole retrieval): {t_alg / c['retrieve']:.0f}× compiled, "
              f"{t_alg / tr['retrieve']:.0f}× torch")
    if args.memory_size:
        import tempfile

        big = simulate("spheres", args.memory_size, seed=1)
        with tempfile.TemporaryDirectory() as d:
            np.save(f"{d}/sample.npy", big.sample)
            np.save(f"{d}/reference.npy", big.reference)
            del big
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, d],
                                 capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"ours at {args.memory_size}²: {m['seconds']:.2f} s, peak RSS {m['peak_gb']:.2f} GB "
              f"({m['peak_before_gb']:.2f} GB before retrieval: interpreter and inputs)")


if __name__ == "__main__":
    main()
