"""`specktrack simulate` writes the DESIGN.md file set; user errors exit 2 with a message."""

import json

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main


def test_simulate_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--phantom", "spheres", "--size", "64", "--seed", "3",
                 "--out", str(out)]) == 0
    expected = {"reference.tif", "sample.tif", "inline.tif", "geometry.json", "phantom.json",
                "truth_phase.tif", "truth_transmission.tif", "truth_darkfield.tif",
                "truth_dx.tif", "truth_dy.tif"}
    assert expected <= {p.name for p in out.iterdir()}
    geometry = json.loads((out / "geometry.json").read_text())
    assert geometry == {"energy_keV": 15.0, "pixel_size_m": 3.25e-6, "distance_m": 0.6,
                        "source_distance_m": 34.0, "source_size_m": 1.0e-4}
    phantom = json.loads((out / "phantom.json").read_text())
    assert phantom["medium"] == "air"
    assert {o["shape"] for o in phantom["objects"]} == {"tube", "sphere"}
    truth = tifffile.imread(out / "truth_phase.tif")
    assert truth.dtype == np.float32 and truth.shape == (64, 64)
    assert "visibility" in capsys.readouterr().out


def test_simulate_foaming_frames(tmp_path):
    out = tmp_path / "foaming"
    assert main(["simulate", "--phantom", "foaming", "--size", "48", "--frames", "3",
                 "--seed", "1", "--out", str(out), "--photons", "0"]) == 0
    assert tifffile.imread(out / "sample.tif").shape == (3, 48, 48)
    assert tifffile.imread(out / "reference.tif").shape == (48, 48)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--size", "8"], "≥ 32"),
        (["--geometry", "missing.json"], "does not exist"),
        (["--phantom", "spheres", "foam"], "several only with --pairs"),
        (["--psf-sigma-px", "-1"], "detector_psf_sigma_px"),
    ],
)
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, args, fragment):
    assert main(["simulate", "--out", str(tmp_path / "x"), *args]) == 2
    assert fragment in capsys.readouterr().err


def test_overwrite_never_replaces_a_folder_holding_other_files(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "my_notes.txt").write_text("beamline log")
    args = ["simulate", "--phantom", "smooth", "--size", "32", "--out", str(out)]
    assert main(args) == 2 and "already holds" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 2
    assert "not part of a result" in capsys.readouterr().err
    assert (out / "my_notes.txt").read_text() == "beamline log"
