"""Frames per second of `specktrack batch`: conventional and learned pipelines, 1 and 2 workers.

For each frame size, a simulated `foaming` sequence is written once; then every configuration
runs `batch` as a whole command (a fresh process, cluster start-up included, and separately the
steady-state rate: when each frame's done flag was written, from the modification times of its
chunk files after the run — the store is not polled during it, which would take CPU from the
workers), with the peak memory of one worker process.
Reported side by side in one run: frames/s, seconds per frame per worker, the scaling of 2
workers against 1, and the cluster size that would keep up with 20 frames/s.

    python benchmarks/bench_batch.py [--sizes 1024 2048] [--frames 8] [--workers 1 2]
                                     [--pipelines conventional learned]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _simulate(folder: Path, size: int, frames: int) -> Path:
    out = folder / f"seq{size}"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "napari_specktrack.cli", "simulate", "--phantom",
                        "foaming", "--size", str(size), "--frames", str(frames), "--out", str(out)],
                       check=True, capture_output=True)
    return out


def _run(seq: Path, out: Path, workers: int, pipeline: str) -> dict:
    extra = ["--generator", "pretrained", "--generator-device", "cpu"] if pipeline == "learned" else []
    cmd = [sys.executable, "-m", "napari_specktrack.cli", "batch",
           "--reference", str(seq / "reference.tif"), "--sample", str(seq / "sample.tif"),
           "--window-px", "13", "--search-px", "5", "--workers", str(workers), "--out", str(out),
           *extra]
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {}
    while proc.poll() is None:  # resident memory of the driver and of each worker process
        try:
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
                peak[p.pid] = max(peak.get(p.pid, 0), p.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    proc.communicate()
    # the steady rate: when each frame's done flag was written, from its chunk file's mtime
    # (no polling of the store, which would take CPU from the workers being measured)
    stamps = sorted(f.stat().st_mtime for f in (out / "done").rglob("*")
                    if f.is_file() and f.name not in ("zarr.json", ".zarray", ".zattrs"))
    n_done = len(stamps)
    # from each worker's first frame on (that one also pays the process's first calls)
    stamps = stamps[workers - 1:]
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
    mems = sorted(peak.values())
    return {"wall_s": wall, "frames_per_s_steady": steady,
            "peak_mb_per_process": mems[-1] / 2**20 if mems else 0.0,
            "frames": n_done, "returncode": proc.returncode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pipelines", nargs="+", default=["conventional", "learned"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            seq = _simulate(tmp, size, args.frames)
            for pipeline in args.pipelines:
                for w in args.workers:
                    r = _run(seq, tmp / f"o{size}{pipeline}{w}.zarr", w, pipeline)
                    rows.append({"size": size, "pipeline": pipeline, "workers": w, **r})
                    print(f"{size}² {pipeline:12s} {w} worker(s): {r['frames_per_s_steady']:.2f} frames/s "
                          f"steady, {r['wall_s']:.1f} s wall for {r['frames']} frames, largest "
                          f"process {r['peak_mb_per_process']:.0f} MB", flush=True)
    print("\n| size | pipeline | workers | frames/s (steady) | s/frame/worker | 2-worker scaling "
          "| workers for 20 frames/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        one = next(x for x in rows if x["size"] == r["size"] and x["pipeline"] == r["pipeline"]
                   and x["workers"] == min(args.workers))
        fps = r["frames_per_s_steady"]
        per_worker = r["workers"] / fps if fps > 0 else float("nan")
        scaling = fps / one["frames_per_s_steady"] if one["frames_per_s_steady"] > 0 else float("nan")
        need = int(np.ceil(20 * per_worker)) if np.isfinite(per_worker) else "?"
        print(f"| {r['size']}² | {r['pipeline']} | {r['workers']} | {fps:.2f} | {per_worker:.2f} | "
              f"{scaling:.2f} | {need} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
