"""`specktrack retrieve`: the DESIGN.md file contract, provenance, and user errors."""

import json

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "--phantom", "smooth", "--size", "96", "--seed", "1", "--out", str(out)]) == 0
    return out


def test_retrieve_double_exposure_writes_the_contract(sim, tmp_path):
    out = tmp_path / "res"
    args = ["retrieve", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--inline", str(sim / "inline.tif"), "--method", "double-exposure",
            "--geometry", str(sim / "geometry.json"), "--out", str(out), "--window-px", "11",
            "--search-px", "4"]
    assert main(args) == 0
    names = {p.name for p in out.iterdir()}
    assert {"phase.tif", "transmission.tif", "darkfield.tif", "dx.tif", "dy.tif", "quality.tif",
            "provenance.json"} <= names
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["params"]["method"] == "double-exposure"
    assert prov["params"]["window_px"] == 11 and prov["geometry"]["energy_keV"] == 15.0
    dx = tifffile.imread(out / "dx.tif")
    truth = tifffile.imread(sim / "truth_dx.tif")
    core = (slice(12, -12), slice(12, -12))
    assert np.sqrt(np.mean((dx - truth)[core] ** 2)) < 0.15
    assert tifffile.imread(out / "phase.tif").dtype == np.float32


def test_retrieve_defaults_geometry_from_tiff_and_suggests_parameters(sim, tmp_path):
    out = tmp_path / "conv"
    assert main(["retrieve", "--reference", str(sim / "reference.tif"), "--sample",
                 str(sim / "sample.tif"), "--out", str(out)]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["params"]["method"] == "conventional"
    assert prov["suggestion"]["window_px"] % 2 == 1


def test_tracking_engines_give_the_same_result_and_are_recorded(sim, tmp_path):
    """`--tracking-engine torch` (the GPU path) and the default compiled search: the same
    displacement and phase to float32 round-off; the provenance names the engine asked for."""
    pytest.importorskip("numba")
    base = ["retrieve", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--geometry", str(sim / "geometry.json"), "--window-px", "11", "--search-px", "4"]
    assert main([*base, "--out", str(tmp_path / "auto")]) == 0
    assert main([*base, "--tracking-engine", "torch", "--out", str(tmp_path / "torch")]) == 0
    for name in ("dx.tif", "dy.tif", "phase.tif"):
        a, b = (tifffile.imread(tmp_path / d / name) for d in ("auto", "torch"))
        np.testing.assert_allclose(a, b, atol=1e-3)
    engines = [json.loads((tmp_path / d / "provenance.json").read_text())["params"]["tracking_engine"]
               for d in ("auto", "torch")]
    assert engines == ["auto", "torch"]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--method", "double-exposure"], "needs --inline"),
        (["--geometry", "nope.json"], "does not exist"),
        (["--window-px", "10"], "odd"),
    ],
)
def test_retrieve_user_errors(sim, tmp_path, capsys, extra, fragment):
    args = ["retrieve", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--out", str(tmp_path / "x"), "--search-px", "4", *extra]
    assert main(args) == 2
    assert fragment in capsys.readouterr().err


def test_retrieve_never_overwrites_an_input(sim, tmp_path, capsys):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(sim, d)
    shutil.copy(d / "sample.tif", d / "phase.tif")  # an input named like an output
    before = (d / "phase.tif").read_bytes()
    args = ["retrieve", "--reference", str(d / "reference.tif"), "--sample", str(d / "phase.tif"),
            "--out", str(d), "--window-px", "11", "--search-px", "4"]
    assert main(args) == 2
    assert "already holds a result" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 2  # replacing the folder would delete the inputs
    assert "lies inside the output" in capsys.readouterr().err
    assert (d / "phase.tif").read_bytes() == before


def test_retrieve_fuses_several_materials_from_a_label_image(sim, tmp_path, capsys):
    """`--fusion-regions labels.tif --region-material 1=PE`: the labels reach the fusion
    (provenance: params, the fusion's per-label pixels, the labels file as an input); a label
    painted with the main material gives the one-material phase bit for bit."""
    labels = np.zeros((96, 96), np.uint8)
    labels[:, 20:40] = 1
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    base = ["retrieve", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--inline", str(sim / "inline.tif"), "--geometry", str(sim / "geometry.json"),
            "--window-px", "11", "--search-px", "4", "--fusion-material", "POM"]
    regions = ["--fusion-regions", str(tmp_path / "labels.tif")]
    assert main([*base, *regions, "--region-material", "1=PE", "--out", str(tmp_path / "pe")]) == 0
    prov = json.loads((tmp_path / "pe" / "provenance.json").read_text())
    assert prov["params"]["fusion_region_materials"] == {"1": "PE"}
    assert prov["stats"]["fusion"]["region_pixels"] == {"1": 20 * 96}
    assert prov["inputs"]["fusion_regions"]["path"].endswith("labels.tif")
    assert main([*base, *regions, "--region-material", "1=POM", "--out", str(tmp_path / "pom")]) == 0
    assert main([*base, "--out", str(tmp_path / "one")]) == 0
    one, pom, pe = (tifffile.imread(tmp_path / d / "phase.tif") for d in ("one", "pom", "pe"))
    np.testing.assert_array_equal(pom, one)
    assert not np.array_equal(pe, one)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--region-material", "1=PE"], "give both a material-regions label image"),
        (["--fusion-regions", "LABELS"], "--region-material 1=PE"),
        (["--fusion-regions", "LABELS", "--region-material", "PE"], "LABEL=MATERIAL"),
        (["--fusion-regions", "LABELS", "--region-material", "2=PE"], "label(s) [1] of the"),
        (["--fusion-regions", "LABELS", "--region-material", "1=kryptonite"], "unknown material"),
    ],
)
def test_retrieve_region_errors(sim, tmp_path, capsys, extra, fragment):
    tifffile.imwrite(tmp_path / "labels.tif", np.ones((96, 96), np.uint8))
    extra = [str(tmp_path / "labels.tif") if a == "LABELS" else a for a in extra]
    args = ["retrieve", "--reference", str(sim / "reference.tif"), "--sample", str(sim / "sample.tif"),
            "--inline", str(sim / "inline.tif"), "--geometry", str(sim / "geometry.json"),
            "--window-px", "11", "--search-px", "4", "--fusion-material", "POM",
            "--out", str(tmp_path / "x"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
