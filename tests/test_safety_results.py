"""Issue 11, "silently wrong results" and "progress": no speckle, raw vs flat-fielded scale,
distances in millimetres, corrupt and mislabelled TIFFs, NaN frames named by index — each an
error naming the number and the fix — and a progress bar that moves within a large frame."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _safety_support import acquisition, corrupt_first_ifd, geometry_file, run_cli, write_tif

from napari_specktrack import _reader
from napari_specktrack.errors import SpecktrackError
from napari_specktrack.geometry import Geometry
from napari_specktrack.io import read_tiff, read_tiff_metadata
from napari_specktrack.pipeline import UNITS_PER_FRAME, Frames, RetrievalParams, retrieve
from napari_specktrack.retrieval import conventional


@pytest.fixture(scope="module")
def acq(tmp_path_factory):
    return acquisition(tmp_path_factory)


@pytest.fixture(scope="module")
def images(acq):
    return {k: read_tiff(acq / f"{k}.tif") for k in ("reference", "sample", "inline")}


def _retrieve(acq, out, sample=None, reference=None, *extra):
    return ["retrieve", "--reference", reference or acq / "reference.tif", "--sample",
            sample or acq / "sample.tif", "--geometry", acq / "geometry.json", "--out", out, *extra]


# --- no speckle -------------------------------------------------------------------------------
def test_cli_refuses_a_sample_without_speckle(acq, tmp_path, capsys):
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", acq / "inline.tif"), acq)
    assert re.search(r"no speckle of the reference \(match 0\.\d\d < 0\.3\)", err)
    assert not (tmp_path / "r").exists(), "nothing written"


def test_api_refuses_a_sample_without_speckle(images):
    with pytest.raises(SpecktrackError, match="no speckle"):
        conventional(images["inline"], images["reference"], Geometry())


def test_api_refuses_a_flat_reference(images):
    flat = np.ones((96, 96), np.float32)
    with pytest.raises(SpecktrackError, match=r"visibility std/mean = 0\.0000"):
        conventional(images["sample"], flat, Geometry())


# --- intensity scales -------------------------------------------------------------------------
def test_cli_refuses_a_raw_reference_with_a_flat_fielded_sample(acq, images, tmp_path, capsys):
    raw = write_tif(tmp_path / "raw_reference.tif", (images["reference"] * 20000).astype(np.uint16))
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", None, raw), acq, raw)
    assert "different intensity scales (ratio 4.94e-05)" in err and "flat-field correction" in err


def test_api_refuses_different_scales_and_names_the_frame(images):
    stack = np.stack([images["sample"], images["sample"] * 1000])
    with pytest.raises(SpecktrackError, match=r"sample frame 1 .* different intensity scales"):
        Frames(stack, images["reference"]).validate()


# --- lengths in the wrong unit ----------------------------------------------------------------
def test_cli_refuses_a_distance_in_millimetres(acq, tmp_path, capsys):
    mm = geometry_file(tmp_path / "geometry.json", acq, distance_m=600)
    argv = ["retrieve", "--reference", acq / "reference.tif", "--sample", acq / "sample.tif",
            "--geometry", mm, "--out", tmp_path / "r"]
    err = run_cli(capsys, argv, acq, mm)
    assert "600 m" in err and "millimetres" in err and "distance_m: 0.6" in err


def test_simulate_refuses_a_source_distance_in_millimetres(acq, tmp_path, capsys):
    mm = geometry_file(tmp_path / "geometry.json", acq, source_distance_m=34000)
    err = run_cli(capsys, ["simulate", "--size", "64", "--geometry", mm, "--out", tmp_path / "s"], mm)
    assert "34000 m" in err and "source_distance_m: 34" in err


@pytest.mark.parametrize("field, value, fragment", [
    ("distance_m", 600.0, "did you give millimetres? 600 millimetres is distance_m: 0.6"),
    ("source_distance_m", 34_000.0, "source_distance_m: 34"),
    ("source_size_m", 100.0, "micrometres is source_size_m: 0.0001"),
    ("pixel_size_m", 6.5, "micrometres is pixel_size_m: 6.5e-06"),
    ("pixel_size_m", 1e-9, "pixel size below 50 nm"),
    ("source_distance_m", 1e-3, "below 10 mm"),
    ("source_size_m", 1e-10, "below 10 nm"),
    ("energy_keV", 15000.0, "15 keV is 15.0"),
])
def test_api_lengths_out_of_their_plausible_range(field, value, fragment):
    with pytest.raises(SpecktrackError, match=re.escape(fragment)) as info:
        Geometry(**{field: value})
    assert field in str(info.value)


def test_api_geometry_json_in_the_wrong_unit(tmp_path):
    path = tmp_path / "g.json"
    path.write_text('{"energy_keV": 15, "pixel_size_m": 3.25e-6, "distance_m": 600, '
                    '"source_distance_m": 34, "source_size_m": 1e-4}')
    with pytest.raises(SpecktrackError, match="millimetres"):
        Geometry.from_json(path)


# --- corrupt and mislabelled files ------------------------------------------------------------
def test_cli_refuses_a_tiff_with_a_corrupt_first_ifd(acq, tmp_path, capsys):
    bad = corrupt_first_ifd(acq / "sample.tif", tmp_path / "sample.tif")
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", bad), acq, bad)
    assert str(bad) in err and ("not a readable TIFF" in err or "holds no image" in err)


@pytest.mark.parametrize("offset", [2**31, 0, 8])
def test_api_a_corrupt_tiff_never_reads_as_an_empty_array(acq, tmp_path, offset):
    bad = corrupt_first_ifd(acq / "sample.tif", tmp_path / "bad.tif", offset)
    for read in (read_tiff, lambda p: _reader.read_file(p)[0]):
        try:
            data = np.asarray(read(bad))
        except SpecktrackError:
            continue
        assert data.ndim >= 2 and data.size > 0


def test_cli_refuses_a_file_named_tif_that_is_not_a_tiff(acq, tmp_path, capsys):
    fake = tmp_path / "sample.tif"
    fake.write_bytes(b"P5\n96 96\n255\n" + bytes(96 * 96))  # a PGM image renamed
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", fake), acq, fake)
    assert "is not a TIFF file" in err


def test_napari_reader_goes_by_content_and_never_raises(acq, tmp_path):
    fake_tif = tmp_path / "fake.tif"
    fake_tif.write_text("not an image")
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))  # a signature, then nothing
    assert _reader.napari_get_reader(str(fake_tif)) is None
    assert _reader.napari_get_reader(str(fake_h5)) is None
    assert _reader.napari_get_reader([str(acq / "sample.tif"), str(fake_tif)]) is None
    for odd in (12, None, [], str(tmp_path), "\0bad.tif"):
        assert _reader.napari_get_reader(odd) is None
    assert _reader.napari_get_reader(str(acq / "sample.tif")) is not None
    with pytest.raises(SpecktrackError, match="not a TIFF"):
        read_tiff_metadata(fake_tif)
    with pytest.raises(SpecktrackError, match="not a readable HDF5"):
        _reader.read_hdf5(fake_h5)


# --- NaN in a stack, by index -----------------------------------------------------------------
def test_cli_names_the_nan_frame_of_a_stack(acq, images, tmp_path, capsys):
    stack = np.stack([images["sample"]] * 3).astype(np.float32)
    stack[2, 10, 20] = np.nan
    path = write_tif(tmp_path / "stack.tif", stack)
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", path), acq, path)
    assert "the sample frame 2 contains 1 NaN/inf pixel(s)" in err


def test_api_names_the_nan_frame_of_a_stack(images):
    stack = np.stack([images["sample"]] * 3).astype(np.float32)
    stack[1, 5, 5] = np.inf
    with pytest.raises(SpecktrackError, match="frame 1 contains 1 NaN/inf"):
        conventional(stack, images["reference"], Geometry(), window_px=9, search_px=3)


# --- in-painted fraction ----------------------------------------------------------------------
def test_a_large_inpainted_fraction_is_a_warning_with_its_causes(acq, tmp_path, capsys):
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", None, None, "--window-px", "3",
                                    "--search-px", "1"), acq, rc=0)
    warning = next(line for line in err.splitlines() if "warning:" in line)
    assert re.search(r"\d+\.\d % of the pixels were in-painted", warning)
    assert "search_px" in warning and "window_px" in warning


# --- progress ---------------------------------------------------------------------------------
def test_cli_progress_moves_within_a_frame(acq, tmp_path, capsys):
    err = run_cli(capsys, _retrieve(acq, tmp_path / "r", None, None, "--search-px", "12"), acq,
                  rc=0)
    shown = re.findall(r"retrieve:\s+\d+%\|[^|]*\| (\d\.\d\d)/1 frame", err.replace("\r", "\n"))
    assert "0.00" in shown and "1.00" in shown
    assert any(0.0 < float(v) < 1.0 for v in shown), shown  # not just "frame 1/1"


def test_api_band_progress_rises_from_zero_to_the_end(images):
    calls = []
    retrieve(Frames(images["sample"], images["reference"]), Geometry(),
             RetrievalParams(search_px=12), progress=lambda d, t: calls.append((d, t)),
             band_progress=True)
    done = [d for d, _ in calls]
    assert done[0] == 0 and done[-1] == UNITS_PER_FRAME and done == sorted(set(done))
    assert any(0 < d < UNITS_PER_FRAME for d in done) and {t for _, t in calls} == {UNITS_PER_FRAME}


def test_api_default_progress_stays_one_step_per_frame(images):
    calls = []
    stack = np.stack([images["sample"]] * 2)
    conventional(stack, images["reference"], Geometry(), window_px=9, search_px=3,
                 progress=lambda d, t: calls.append((d, t)))
    assert calls == [(100, 200), (200, 200)]

