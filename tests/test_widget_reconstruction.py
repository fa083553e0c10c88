"""The Reconstruction dock: preview follows the centre, the centre is found, the volume is the
FBP of the stack (as `specktrack reconstruct`), and Cancel stops a volume run."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_specktrack.geometry import Geometry  # noqa: E402
from napari_specktrack.widgets._workers import NOTHREADS_ENV  # noqa: E402
from napari_specktrack.widgets.reconstruction import (  # noqa: E402
    PREVIEW_NAME,
    SLICES_NAME,
    ReconstructionWidget,
)

N, ROWS, SHIFT = 63, 6, 1.5  # the axis sits SHIFT px right of the detector centre


@pytest.fixture
def stack():
    from scipy.ndimage import shift
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    img = resize(shepp_logan_phantom(), (N, N), anti_aliasing=True)
    sino = radon(img, theta=np.arange(180) * 1.0)  # (N, 180)
    sino = shift(sino, (SHIFT, 0), order=1, mode="nearest")
    return np.repeat(sino.T[:, None, :], ROWS, axis=1).astype(np.float32)  # (180, ROWS, N)


@pytest.fixture
def dock(make_napari_viewer, stack):
    viewer = make_napari_viewer()
    g = Geometry()
    viewer.add_image(stack, name="phase", scale=(1.0, *g.layer_scale_um),
                     metadata={"geometry": g.to_dict()})
    w = ReconstructionWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w


def test_preview_follows_the_centre_and_find_centre(dock, qtbot, monkeypatch):
    viewer, w = dock
    assert w.projections.value is viewer.layers["phase"] and w.center_px.value == (N - 1) / 2
    qtbot.waitUntil(lambda: PREVIEW_NAME in viewer.layers, timeout=20_000)
    first = viewer.layers[PREVIEW_NAME].data.copy()
    w.center_px.value = (N - 1) / 2 + SHIFT
    qtbot.waitUntil(lambda: viewer.layers[PREVIEW_NAME].metadata["center_px"] == w.center_px.value,
                    timeout=20_000)
    assert not np.allclose(viewer.layers[PREVIEW_NAME].data, first)
    monkeypatch.setenv(NOTHREADS_ENV, "1")
    w.center_px.value = 10.0
    w.find_button.native.click()
    assert abs(w.center_px.value - ((N - 1) / 2 + SHIFT)) < 0.5


def test_reconstruct_rows_equals_the_command_line(dock, monkeypatch, tmp_path):
    import tifffile

    from napari_specktrack.cli import main

    viewer, w = dock
    monkeypatch.setenv(NOTHREADS_ENV, "1")
    w.live.value = False
    w.center_px.value = (N - 1) / 2 + SHIFT
    w.all_rows.value = False
    w.first_row.value, w.last_row.value = 1, 3
    w.run_button.native.click()
    assert w.runner.last_outcome.ok, w.status.value
    slices = viewer.layers[SLICES_NAME]
    assert slices.data.shape == (3, N, N)
    assert slices.metadata["provenance"]["step"] == "reconstruct"
    tifffile.imwrite(tmp_path / "P.tif", viewer.layers["phase"].data)
    assert main(["reconstruct", "--projections", str(tmp_path / "P.tif"), "--angles-deg", "0",
                 "180", "--center-px", str((N - 1) / 2 + SHIFT), "--rows", "1", "4", "--out",
                 str(tmp_path / "S.tif")]) == 0
    np.testing.assert_array_equal(slices.data, tifffile.imread(tmp_path / "S.tif"))
    w.quantity.value = "delta"  # the layer carries the geometry: δ = −f / (k p/M)
    w.run_button.native.click()
    g = Geometry()
    np.testing.assert_allclose(viewer.layers[SLICES_NAME].data,
                               -tifffile.imread(tmp_path / "S.tif") / (g.wavenumber_per_m
                                                                        * g.object_pixel_size_m),
                               rtol=1e-5, atol=1e-12)


def test_cancel_stops_a_volume_run(dock, qtbot, monkeypatch):
    from napari_specktrack.tomo import run as tomo_run

    viewer, w = dock
    monkeypatch.delenv(NOTHREADS_ENV, raising=False)
    w.live.value = False
    original = tomo_run.iter_slabs

    def slow(*args, **kwargs):
        kwargs["slab_rows"] = 1
        for item in original(*args, **kwargs):
            time.sleep(0.4)
            yield item

    monkeypatch.setattr(tomo_run, "iter_slabs", slow)
    w.run_button.native.click()
    qtbot.wait(300)
    assert w.runner.running
    with qtbot.waitSignal(w.runner.done, timeout=20_000):
        w.cancel_button.native.click()
    assert w.runner.last_outcome.cancelled and SLICES_NAME not in viewer.layers
