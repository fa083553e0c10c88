"""`specktrack reconstruct`: the exact contract of issue 12 (layout, angles, centre, sidecar)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main

N = 63  # odd: skimage's axis and image centre are then (N − 1) / 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    img = resize(shepp_logan_phantom(), (N, N), anti_aliasing=True)
    angles = np.arange(180) * 1.0  # 180 projections over 0 180: 0, 1, …, 179°
    sino = radon(img, theta=angles)  # (N, angles)
    folder = tmp_path_factory.mktemp("ct")
    P = np.stack([sino.T, np.roll(sino.T, 0, axis=1)], axis=1).astype(np.float32)
    tifffile.imwrite(folder / "P.tif", P)
    return folder, img, angles, sino


def _run(folder, out, *extra):
    return main(["reconstruct", "--projections", str(folder / "P.tif"), "--angles-deg", "0", "180",
                 "--out", str(out), *extra])


def test_slices_equal_iradon_in_its_orientation_and_the_sidecar_says_how(stack, tmp_path):
    from skimage.transform import iradon

    folder, _img, angles, sino = stack
    out = tmp_path / "SLICES.tif"
    assert _run(folder, out, "--center-px", str((N - 1) / 2), "--filter", "shepp-logan") == 0
    slices = tifffile.imread(out)
    assert slices.shape == (2, N, N) and slices.dtype == np.float32
    ref = iradon(sino, theta=angles, filter_name="shepp-logan")
    for s in slices:
        assert np.sqrt(np.mean((s - ref) ** 2)) / np.ptp(ref) < 0.01
    meta = json.loads((tmp_path / "SLICES.json").read_text())
    assert meta["center_px"] == (N - 1) / 2 and meta["filter"] == "shepp-logan"
    assert meta["quantity"] == "phase" and meta["angles_deg"][:3] == [0.0, 1.0, 2.0]
    assert len(meta["angles_deg"]) == 180 and meta["step"] == "reconstruct"
    assert meta["inputs"]["projections"]["sha256"]


def test_the_centre_is_found_when_not_given(stack, tmp_path):
    folder, *_ = stack
    assert _run(folder, tmp_path / "S.tif") == 0
    meta = json.loads((tmp_path / "S.json").read_text())
    assert abs(meta["center_px"] - (N - 1) / 2) < 0.5 and meta["center"]["found"] is True


def test_delta_is_the_phase_over_k_times_the_object_pixel(stack, tmp_path):
    from napari_specktrack.geometry import Geometry

    folder, *_ = stack
    g = Geometry()
    g.to_json(tmp_path / "g.json")
    c = str((N - 1) / 2)
    assert _run(folder, tmp_path / "phase.tif", "--center-px", c, "--rows", "0", "1") == 0
    assert _run(folder, tmp_path / "delta.tif", "--center-px", c, "--rows", "0", "1",
                "--geometry", str(tmp_path / "g.json"), "--quantity", "delta") == 0
    f = tifffile.imread(tmp_path / "phase.tif")
    delta = tifffile.imread(tmp_path / "delta.tif")
    assert f.shape == (1, N, N)
    np.testing.assert_allclose(delta, -f / (g.wavenumber_per_m * g.object_pixel_size_m), rtol=1e-5,
                               atol=1e-12)


@pytest.mark.parametrize("extra, fragment", [
    (["--quantity", "delta"], "needs --geometry"),
    (["--center-px", "500"], "center"),
    (["--rows", "1", "9"], "rows"),
    (["--filter", "ramp", "--angles-deg", "0", "90"], "180"),
])
def test_bad_requests_are_one_line_errors(stack, tmp_path, capsys, extra, fragment):
    folder, *_ = stack
    args = ["reconstruct", "--projections", str(folder / "P.tif"), "--angles-deg", "0", "180",
            "--out", str(tmp_path / "x.tif"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "x.tif").exists()


def test_existing_slices_are_refused_and_inputs_never_written(stack, tmp_path, capsys):
    folder, *_ = stack
    before = (folder / "P.tif").read_bytes()
    assert _run(folder, folder / "P.tif", "--center-px", "31") == 2  # the input itself
    assert _run(folder, tmp_path / "S.tif", "--center-px", "31") == 0
    assert _run(folder, tmp_path / "S.tif", "--center-px", "31") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _run(folder, tmp_path / "S.tif", "--center-px", "31", "--overwrite") == 0
    assert (folder / "P.tif").read_bytes() == before


def test_projections_from_a_batch_zarr_store(stack, tmp_path):
    import zarr

    folder, *_ = stack
    P = tifffile.imread(folder / "P.tif")
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="w")
    group.create_array("phase", shape=P.shape, chunks=(1, *P.shape[1:]), dtype="float32")
    group["phase"][:] = P
    out = tmp_path / "Z.tif"
    assert main(["reconstruct", "--projections", f"{tmp_path / 'run.zarr'}:phase", "--angles-deg",
                 "0", "180", "--center-px", "31", "--out", str(out)]) == 0
    assert _run(folder, tmp_path / "T.tif", "--center-px", "31") == 0
    np.testing.assert_array_equal(tifffile.imread(out), tifffile.imread(tmp_path / "T.tif"))
