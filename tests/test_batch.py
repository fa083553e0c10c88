"""`specktrack batch`: the pipeline over a sequence into a resumable zarr store, on dask."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tifffile
import zarr

from napari_specktrack.cli import main
from napari_specktrack.io import write_tiff
from napari_specktrack.pipeline import OUTPUT_FIELDS

P = ["--window-px", "9", "--search-px", "3"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq") / "sim"
    assert main(["simulate", "--phantom", "foaming", "--size", "64", "--frames", "6", "--seed", "7",
                 "--out", str(out)]) == 0
    return out


def _batch(sim, out, *extra):
    return main(["batch", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--inline", str(sim / "inline.tif"), "--out", str(out), *P,
                 *extra])


@pytest.fixture(scope="module")
def retrieved(sim, tmp_path_factory):
    out = tmp_path_factory.mktemp("ret") / "r"
    assert main(["retrieve", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--inline", str(sim / "inline.tif"), "--out", str(out),
                 *P]) == 0
    return {f.key: tifffile.imread(out / f.file) for f in OUTPUT_FIELDS}


def test_batch_equals_retrieve_frame_by_frame_and_resumes(sim, retrieved, tmp_path, capsys):
    out = tmp_path / "b.zarr"
    assert _batch(sim, out, "--workers", "0") == 0
    group = zarr.open_group(str(out), mode="r")
    for f in OUTPUT_FIELDS:
        arr = group[f.key]
        assert arr.shape == (6, 64, 64) and arr.dtype == np.float32 and arr.chunks == (1, 64, 64)
        # equal to float32 round-off: batch's worker runs torch on every core, the test process
        # may run on one (OMP_NUM_THREADS=1), and the reduction order moves the phase by ~1e-5
        np.testing.assert_allclose(arr[:], retrieved[f.key], rtol=0, atol=5e-5)
    attrs = dict(group.attrs)
    assert attrs["provenance"]["step"] == "batch" and attrs["geometry"]["energy_keV"] == 15.0
    capsys.readouterr()
    assert _batch(sim, out, "--workers", "0") == 0  # the same command again: nothing to do
    assert "0 frames computed" in capsys.readouterr().out
    assert _batch(sim, out, "--workers", "0", "--integration", "kottler") == 2  # another run
    assert "other parameters" in capsys.readouterr().err
    assert _batch(sim, out, "--workers", "0", "--integration", "kottler", "--overwrite") == 0
    assert dict(zarr.open_group(str(out)).attrs)["provenance"]["params"]["integration"] == "kottler"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_killed_run_restarted_computes_only_the_missing_frames(tmp_path):
    sim = tmp_path / "sim"
    assert main(["simulate", "--phantom", "foaming", "--size", "96", "--frames", "12", "--seed", "8",
                 "--out", str(sim)]) == 0
    out = tmp_path / "k.zarr"
    cmd = [sys.executable, "-m", "napari_specktrack.cli", "batch", "--reference",
           str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"), "--workers", "0",
           "--out", str(out), *P]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = int(np.sum(zarr.open_group(str(out), mode="r")["done"][:]))
        except Exception:  # the store is being created
            done = 0
        if done >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= done < 12, "kill the run in the middle"
    before = zarr.open_group(str(out), mode="r")
    flags = before["done"][:].copy()
    kept = before["phase"][:][flags == 1].copy()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = zarr.open_group(str(out), mode="r")
    stats = dict(after.attrs)["last_run"]
    assert stats["skipped"] == int(flags.sum()) and stats["computed"] == 12 - int(flags.sum())
    assert after["done"][:].all()
    np.testing.assert_array_equal(after["phase"][:][flags == 1], kept)  # nothing redone or lost
    full = tmp_path / "full.zarr"
    assert subprocess.run([*cmd[:-len(P) - 2], "--out", str(full), *P], capture_output=True).returncode == 0
    np.testing.assert_allclose(after["phase"][:], zarr.open_group(str(full))["phase"][:], atol=1e-5)


def test_a_bad_frame_is_reported_by_index_and_the_others_complete(sim, tmp_path, capsys):
    sample = tifffile.imread(sim / "sample.tif").copy()
    sample[3, 10, 10] = np.nan
    write_tiff(tmp_path / "bad.tif", sample)
    out = tmp_path / "bad.zarr"
    code = main(["batch", "--reference", str(sim / "reference.tif"), "--sample",
                 str(tmp_path / "bad.tif"), "--geometry", str(sim / "geometry.json"), "--workers",
                 "0", "--out", str(out), *P])
    assert code == 1
    err = capsys.readouterr().err
    assert "frame 3:" in err and "NaN" in err
    assert list(zarr.open_group(str(out))["done"][:]) == [1, 1, 1, 0, 1, 1]


def test_a_two_worker_local_cluster_runs_it(sim, retrieved, tmp_path):
    out = tmp_path / "c.zarr"
    assert _batch(sim, out, "--workers", "2") == 0
    np.testing.assert_allclose(zarr.open_group(str(out))["phase"][:], retrieved["phase"], atol=1e-4)


def test_follow_picks_up_frames_written_after_it_started(sim, tmp_path):
    from napari_specktrack.batch import plan_batch, run_batch
    from napari_specktrack.geometry import Geometry
    from napari_specktrack.pipeline import RetrievalParams

    frames = tifffile.imread(sim / "sample.tif")
    folder = tmp_path / "frames"
    for i in range(2):
        write_tiff(folder / f"f{i}.tif", frames[i])
    params = RetrievalParams(window_px=9, search_px=3)
    plan = plan_batch(str(folder / "*.tif"), sim / "reference.tif", params,
                      Geometry.from_json(sim / "geometry.json"), tmp_path / "f.zarr", follow=True)
    stop = threading.Event()
    box = {}
    thread = threading.Thread(target=lambda: box.update(report=run_batch(
        plan, workers=0, follow=True, poll_s=0.1, cancel=stop.is_set)))
    thread.start()
    for i in (2, 3, 10):  # named by number: f10 sorts after f3
        time.sleep(0.3)
        write_tiff(folder / f"f{i}.tif", frames[min(i, 5)])
    deadline = time.monotonic() + 120
    group = zarr.open_group(str(tmp_path / "f.zarr"), mode="r")
    while time.monotonic() < deadline and int(np.sum(group["done"][:])) < 5:
        time.sleep(0.1)
    stop.set()
    thread.join(60)
    assert box["report"].total == 5 and int(np.sum(group["done"][:])) == 5
    assert plan.job.sample.files[-1].endswith("f10.tif")


def test_tasks_carry_paths_not_pixels(sim, tmp_path):
    from napari_specktrack.batch import plan_batch
    from napari_specktrack.geometry import Geometry
    from napari_specktrack.pipeline import RetrievalParams

    plan = plan_batch(sim / "sample.tif", sim / "reference.tif", RetrievalParams(window_px=9, search_px=3),
                      Geometry.from_json(sim / "geometry.json"), tmp_path / "t.zarr")
    assert len(pickle.dumps(plan.job)) < 10_000  # a 64² frame alone would be 16 kB


def test_the_local_cluster_is_no_global_default_and_starts_workers_tuned(monkeypatch):
    from dask.distributed import default_client

    from napari_specktrack.batch import compute_client

    with compute_client(workers=1) as client:
        with pytest.raises(ValueError):
            default_client()
        # the local workers start with the heap settings (glibc reads them at start-up) and
        # without dask's sampling profiler: both cost a frame a third of its time here
        from napari_specktrack.batch.run import WORKER_ENV

        def settings():
            import dask

            return ({k: os.environ.get(k) for k in WORKER_ENV},
                    dask.config.get("distributed.worker.profile.enabled"))

        for env, profiling in client.run(settings).values():
            assert env == WORKER_ENV
            assert profiling is False
    assert os.environ.get("DASK_SCHEDULER_ADDRESS") is None


def test_a_single_image_is_a_sequence_of_one_frame(tmp_path):
    sim = tmp_path / "one"
    assert main(["simulate", "--phantom", "smooth", "--size", "64", "--out", str(sim)]) == 0
    out = tmp_path / "one.zarr"
    assert main(["batch", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--workers", "0", "--out", str(out), *P]) == 0
    assert zarr.open_group(str(out))["phase"].shape == (1, 64, 64)


def test_batch_fuses_with_material_regions_like_retrieve(sim, tmp_path):
    """`--fusion-regions` / `--region-material` reach every worker's plan: the store equals
    `retrieve` with the same labels, and its provenance names them."""
    labels = np.zeros((64, 64), np.uint8)
    labels[:, 10:24] = 1
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    extra = ["--fusion-material", "POM", "--fusion-regions", str(tmp_path / "labels.tif"),
             "--region-material", "1=PE"]
    assert _batch(sim, tmp_path / "b.zarr", "--workers", "0", *extra) == 0
    assert main(["retrieve", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--inline", str(sim / "inline.tif"),
                 "--out", str(tmp_path / "r"), *P, *extra]) == 0
    group = zarr.open_group(str(tmp_path / "b.zarr"), mode="r")
    np.testing.assert_allclose(group["phase"][:], tifffile.imread(tmp_path / "r" / "phase.tif"),
                               rtol=0, atol=1e-5)
    prov = dict(group.attrs)["provenance"]
    assert prov["params"]["fusion_region_materials"] == {"1": "PE"}
    assert prov["inputs"]["regions"]["path"].endswith("labels.tif")
