"""NXtomo files split by image_key into darks, flats and projections (lazily), with angles."""

import h5py
import numpy as np
import pytest

from napari_specktrack.errors import FileFormatError
from napari_specktrack.nexus import is_nxtomo, read_nxtomo


def _nxtomo(path, keys, angles=True):
    rng = np.random.default_rng(0)
    data = rng.uniform(10, 100, (len(keys), 16, 20)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        det = f.create_group("entry/instrument/detector")
        det["data"] = data
        det["image_key"] = np.asarray(keys)
        if angles:
            f["entry/sample/rotation_angle"] = np.linspace(0, 180, len(keys), endpoint=False)
    return data


def test_split_by_image_key_keeps_order_and_angles(tmp_path):
    keys = [2, 2, 1, 1, 1, 0, 0, 0, 0, 1, 0]  # darks, flats, projections, a flat in between
    data = _nxtomo(tmp_path / "scan.nxs", keys)
    assert is_nxtomo(tmp_path / "scan.nxs")
    scan = read_nxtomo(tmp_path / "scan.nxs")
    k = np.asarray(keys)
    np.testing.assert_array_equal(np.asarray(scan.projections), data[k == 0])
    np.testing.assert_array_equal(np.asarray(scan.flats), data[k == 1])
    np.testing.assert_array_equal(np.asarray(scan.darks), data[k == 2])
    all_angles = np.linspace(0, 180, len(keys), endpoint=False)
    np.testing.assert_allclose(scan.angles_deg, all_angles[k == 0])
    assert scan.projections.chunks[0] == (1,) * 5  # lazy, a frame per chunk


def test_not_an_nxtomo_file_is_a_clear_error(tmp_path):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["entry/instrument/detector/data"] = np.zeros((3, 8, 8))
    assert not is_nxtomo(tmp_path / "plain.h5")
    with pytest.raises(FileFormatError, match="image_key"):
        read_nxtomo(tmp_path / "plain.h5")
    _nxtomo(tmp_path / "short.nxs", [0, 0, 0])
    with h5py.File(tmp_path / "short.nxs", "a") as f:
        del f["entry/instrument/detector/image_key"]
        f["entry/instrument/detector/image_key"] = np.zeros(2, int)
    with pytest.raises(FileFormatError, match="frame for frame"):
        read_nxtomo(tmp_path / "short.nxs")
    (tmp_path / "junk.nxs").write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError):
        read_nxtomo(tmp_path / "junk.nxs")
