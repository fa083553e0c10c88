"""`specktrack generate`: the in-line image from a sample stack, full frames, tiles and batches."""

import json

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--phantom", "foaming", "--size", "72", "--frames", "3", "--seed", "4",
                 "--out", str(out)]) == 0
    return out


def _args(sim, out, *extra):
    return ["generate", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--out", str(out), "--device", "cpu", *extra]


def test_generate_full_tiled_and_batched_agree(sim, tmp_path):
    # float32: the agreement claimed is the arithmetic's; "auto" takes bfloat16 on a CPU that
    # computes it (3 significant digits: tiles then differ by its rounding, ≈ 3e-3)
    f32 = ("--precision", "float32")
    assert main(_args(sim, tmp_path / "full.tif", *f32)) == 0
    assert main(_args(sim, tmp_path / "tiled.tif", "--tile-px", "32", "--batch-size", "2", *f32)) == 0
    assert main(_args(sim, tmp_path / "batched.tif", "--batch-size", "2", *f32)) == 0
    assert main(_args(sim, tmp_path / "avg.tif", "--average-orientations")) == 0
    full = tifffile.imread(tmp_path / "full.tif")
    assert full.shape == (3, 72, 72) and full.dtype == np.float32
    # the in-line image is ≈ 1 away from the sample (flat-field units), not the speckle input
    assert 0.8 < np.median(full) < 1.2
    np.testing.assert_allclose(tifffile.imread(tmp_path / "tiled.tif"), full, atol=1e-3)
    # batched frames take other float summation orders: 3e-5 seen under load
    np.testing.assert_allclose(tifffile.imread(tmp_path / "batched.tif"), full, atol=1e-4)
    with tifffile.TiffFile(tmp_path / "tiled.tif") as tf:
        meta = json.loads(tf.pages[0].description)
    prov = meta["provenance"]
    assert prov["params"]["tile_px"] == 32 and prov["inputs"]["generator"]["preset"] == "lite"
    assert prov["inputs"]["generator"]["precision_used"] == "float32"  # as asked, not "auto"
    assert json.loads((tmp_path / "tiled.json").read_text())["provenance"] == prov
    with tifffile.TiffFile(tmp_path / "avg.tif") as tf:
        avg = json.loads(tf.pages[0].description)["provenance"]
    assert avg["params"]["average_orientations"] is True
    assert tifffile.imread(tmp_path / "avg.tif").shape == full.shape


def test_generate_refuses_to_overwrite_its_input(sim, capsys):
    before = (sim / "sample.tif").read_bytes()
    assert main(_args(sim, sim / "sample.tif")) == 2
    assert "input" in capsys.readouterr().err
    assert (sim / "sample.tif").read_bytes() == before
