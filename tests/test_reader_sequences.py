"""The napari reader opens sequences lazily: numbered TIFF frames, batch zarr stores, NXtomo."""

from __future__ import annotations

import h5py
import numpy as np
import tifffile

from napari_specktrack._reader import napari_get_reader
from napari_specktrack.cli import main


def test_a_folder_of_numbered_frames_is_one_lazy_stack_in_numeric_order(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (10, 1, 2):
        tifffile.imwrite(folder / f"img_{i}.tif", np.full((8, 9), i, np.float32))
    reader = napari_get_reader(str(folder))
    (data, kwargs, kind), = reader(str(folder))
    assert kind == "image" and type(data).__module__.startswith("dask") and data.shape == (3, 8, 9)
    np.testing.assert_array_equal(np.asarray(data)[:, 0, 0], [1, 2, 10])
    assert kwargs["metadata"]["frames"] == ["img_1.tif", "img_2.tif", "img_10.tif"]
    (tmp_path / "empty").mkdir()
    assert napari_get_reader(str(tmp_path / "empty")) is None


def test_a_batch_store_opens_as_its_fields_in_um(tmp_path):
    sim = tmp_path / "s"
    assert main(["simulate", "--phantom", "foaming", "--size", "32", "--frames", "2", "--out", str(sim)]) == 0
    assert main(["batch", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
                 "--workers", "0", "--window-px", "7", "--search-px", "2", "--out",
                 str(tmp_path / "b.zarr")]) == 0
    layers = napari_get_reader(str(tmp_path / "b.zarr"))(str(tmp_path / "b.zarr"))
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["phase", "transmission", "dark-field", "dx", "dy", "quality"]
    phase, kw, _ = layers[0]
    assert phase.shape == (2, 32, 32) and kw["scale"][1] == kw["scale"][2] > 3.0
    assert kw["metadata"]["provenance"]["step"] == "batch" and kw["visible"] is True


def test_an_nxtomo_file_opens_as_projections_flats_and_darks(tmp_path):
    keys = [2, 1, 0, 0, 0, 0]
    with h5py.File(tmp_path / "scan.nxs", "w") as f:
        f["entry/instrument/detector/data"] = np.arange(6 * 16 * 16, dtype=np.uint16).reshape(6, 16, 16)
        f["entry/instrument/detector/image_key"] = keys
        f["entry/sample/rotation_angle"] = [0, 0, 0, 45, 90, 135]
    layers = napari_get_reader(str(tmp_path / "scan.nxs"))(str(tmp_path / "scan.nxs"))
    by_name = {kw["name"]: (d, kw) for d, kw, _ in layers}
    assert set(by_name) == {"scan:darks", "scan:flats", "scan:projections"}
    data, kw = by_name["scan:projections"]
    assert data.shape == (4, 16, 16) and kw["metadata"]["angles_deg"] == [0, 45, 90, 135]
