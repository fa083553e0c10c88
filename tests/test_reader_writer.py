"""Reader (TIFF, multi-page, lazy, HDF5/NeXus) and writer (TIFF + JSON sidecar) contracts."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import tifffile

from napari_specktrack import _reader, _writer
from napari_specktrack.errors import InputError, SpecktrackError
from napari_specktrack.geometry import Geometry
from napari_specktrack.io import write_json, write_tiff


def _stack(n=3, ny=20, nx=24, seed=0):
    return np.random.default_rng(seed).random((n, ny, nx), dtype=np.float32)


# --- reader: which files ----------------------------------------------------------------------
def test_get_reader_declines_what_it_cannot_read(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG")
    assert _reader.napari_get_reader(str(png)) is None
    assert _reader.napari_get_reader(str(tmp_path / "missing.tif")) is None
    assert _reader.napari_get_reader([]) is None
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert _reader.napari_get_reader(str(junk)) is None
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["vector"] = np.arange(10.0)  # 1-D: no image in it
    assert _reader.napari_get_reader(str(empty)) is None


# --- reader: TIFF -------------------------------------------------------------------------------
def test_multipage_tiff_is_memory_mapped_and_exact(tmp_path):
    data = _stack(5)
    path = tmp_path / "frames.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    reader = _reader.napari_get_reader(str(path))
    [(arr, kwargs, kind)] = reader(str(path))
    assert kind == "image" and kwargs["name"] == "frames"
    assert isinstance(arr, np.memmap), "an uncompressed stack must be memory-mapped, not read"
    np.testing.assert_array_equal(np.asarray(arr), data)
    assert kwargs["metadata"]["source_path"] == str(path)


def test_large_compressed_tiff_becomes_lazy(tmp_path, monkeypatch):
    data = (_stack(4) * 1000).astype(np.uint16)
    path = tmp_path / "compressed.tif"
    tifffile.imwrite(path, data, compression="zlib", photometric="minisblack")
    monkeypatch.setattr(_reader, "LAZY_BYTES", 10)  # anything counts as "large"
    arr, _, _ = _reader.read_file(path)
    import dask.array as da

    assert isinstance(arr, da.Array) and arr.shape == data.shape and arr.chunksize[0] == 1
    np.testing.assert_array_equal(arr[2].compute(), data[2])


def test_geometry_beside_a_tiff_gives_um_scale(tmp_path):
    g = Geometry(energy_keV=20.0, pixel_size_m=6.5e-6, distance_m=1.0, source_distance_m=40.0)
    write_json(tmp_path / "geometry.json", g.to_dict())
    tifffile.imwrite(tmp_path / "sample.tif", _stack(2), photometric="minisblack")
    _, kwargs, _ = _reader.read_file(tmp_path / "sample.tif")
    assert kwargs["metadata"]["geometry"] == g.to_dict()
    # scale: frame axis unitless, (y, x) = object-plane pixel p / M in µm
    p_obj_um = 6.5 * 40.0 / 41.0
    np.testing.assert_allclose(kwargs["scale"], [1.0, p_obj_um, p_obj_um], rtol=1e-12)


# --- reader: HDF5 / NeXus ------------------------------------------------------------------------
@pytest.fixture
def nexus(tmp_path):
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as f:
        f["entry/instrument/detector/dark"] = np.zeros((4, 20, 24), np.uint16)
        f["entry/data/data"] = (_stack(6) * 4000).astype(np.uint16)
        f["entry/flat"] = np.ones((20, 24), np.float32)
        f["entry/angles"] = np.linspace(0, 180, 6)
    return path


def test_hdf5_lists_image_datasets_largest_first(nexus):
    listed = _reader.hdf5_datasets(nexus)
    assert [name for name, _, _ in listed] == [
        "/entry/data/data",
        "/entry/instrument/detector/dark",
        "/entry/flat",
    ]
    assert listed[0][1] == (6, 20, 24) and listed[0][2] == "uint16"


def test_hdf5_default_and_chosen_dataset(nexus):
    [(arr, kwargs, _)] = _reader.napari_get_reader(str(nexus))(str(nexus))
    assert arr.shape == (6, 20, 24) and kwargs["metadata"]["dataset"] == "/entry/data/data"
    flat, chosen = _reader.read_hdf5(nexus, "entry/flat")
    assert chosen == "/entry/flat" and flat.shape == (20, 24)
    with pytest.raises(InputError, match="/entry/data/data"):
        _reader.read_hdf5(nexus, "/entry/angles")


def test_large_hdf5_stays_lazy(nexus, monkeypatch):
    monkeypatch.setattr(_reader, "LAZY_BYTES", 10)
    arr, _ = _reader.read_hdf5(nexus)
    import dask.array as da

    assert isinstance(arr, da.Array) and arr.chunksize == (1, 20, 24)
    with h5py.File(nexus, "r") as f:
        np.testing.assert_array_equal(arr[3].compute(), f["entry/data/data"][3])


# --- writer --------------------------------------------------------------------------------------
def _meta(name="phase", **extra):
    g = Geometry()
    return {
        "name": name,
        "scale": g.layer_scale_um,
        "metadata": {
            "geometry": g.to_dict(),
            "provenance": {"step": "retrieve", "params": {"window_px": 11}, "inputs": ["sample"],
                           "version": "test"},
            "unit": "rad",
            **extra,
        },
    }


def test_writer_round_trip_with_sidecar(tmp_path):
    phase = -np.linspace(0, 30, 32 * 40, dtype=np.float64).reshape(32, 40)
    written = _writer.write_single_image(str(tmp_path / "out" / "phase.tif"), phase, _meta())
    assert written == [str(tmp_path / "out" / "phase.tif"), str(tmp_path / "out" / "phase.json")]
    side = json.loads((tmp_path / "out" / "phase.json").read_text())
    assert side["geometry"] == Geometry().to_dict() and side["provenance"]["step"] == "retrieve"
    assert side["unit"] == "rad"
    assert not list((tmp_path / "out").glob(".*part")), "no temporary files left behind"
    arr, kwargs, _ = _reader.read_file(tmp_path / "out" / "phase.tif")
    assert arr.dtype == np.float32
    np.testing.assert_allclose(arr, phase, rtol=1e-6)  # float32 keeps ~7 digits
    assert kwargs["metadata"]["provenance"]["params"] == {"window_px": 11}
    np.testing.assert_allclose(kwargs["scale"], Geometry().layer_scale_um)


def test_writer_never_overwrites_the_input_file(tmp_path):
    src = tmp_path / "sample.tif"
    write_tiff(src, _stack(2))
    before = src.read_bytes()
    meta = _meta(source_path=str(src))
    with pytest.raises(SpecktrackError, match="refusing to overwrite"):
        _writer.write_single_image(str(src), _stack(2) * 2, meta)
    assert src.read_bytes() == before


def test_write_multiple_into_a_folder(tmp_path):
    layers = [
        (np.zeros((8, 8), np.float32), _meta("phase"), "image"),
        (np.ones((8, 8), np.float32), _meta("dark-field"), "image"),
        (np.ones((8, 8), np.float32), _meta("dark field"), "image"),  # same safe name
        (np.zeros((3, 2)), {"name": "points"}, "points"),  # not an image: skipped
    ]
    written = _writer.write_multiple(str(tmp_path / "results"), layers)
    names = sorted(p.rsplit("/", 1)[-1] for p in written)
    assert names == sorted([
        "phase.tif", "phase.json", "dark-field.tif", "dark-field.json",
        "dark_field.tif", "dark_field.json",
    ])
    with pytest.raises(InputError, match="folder"):
        _writer.write_multiple(str(tmp_path / "results.tif"), layers)
