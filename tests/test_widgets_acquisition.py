"""Acquisition widget: roles, checks that change nothing, geometry JSON, dark/flat correction."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari.utils.notifications import notification_manager  # noqa: E402

from napari_specktrack.geometry import Geometry  # noqa: E402
from napari_specktrack.widgets._session import session  # noqa: E402
from napari_specktrack.widgets.acquisition import AcquisitionWidget  # noqa: E402


def _errors_since(n_before: int) -> list[str]:
    return [str(r.message) for r in notification_manager.records[n_before:]
            if str(getattr(r.severity, "value", r.severity)) == "error"]


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    ref = (1 + 0.2 * rng.standard_normal((64, 64))).astype(np.float32)
    viewer.add_image(ref, name="reference")
    viewer.add_image((ref * 0.9).astype(np.float32), name="sample")
    widget = AcquisitionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget


def test_roles_are_preselected_by_name_and_assigned(viewer_and_widget):
    viewer, w = viewer_and_widget
    assert w.role_combos["reference"].value is viewer.layers["reference"]
    assert w.role_combos["sample"].value is viewer.layers["sample"]
    w.assign_button.native.click()
    a = session(viewer).assignment
    assert a is not None and a.sample is viewer.layers["sample"] and not a.is_stack
    # images loaded without a geometry get the object-plane pixel in µm (3.25 µm / 1.0176)
    np.testing.assert_allclose(viewer.layers["sample"].scale, [3.194, 3.194], rtol=1e-3)
    assert "reference" in w.status.value


def test_mismatched_shapes_notify_and_change_nothing(viewer_and_widget):
    viewer, w = viewer_and_widget
    w.assign_button.native.click()
    before = session(viewer).assignment
    small = viewer.add_image(np.ones((48, 64), np.float32), name="cropped sample")
    nan = np.ones((64, 64), np.float32)
    nan[3, 4] = np.nan
    nan_layer = viewer.add_image(nan, name="nan sample")
    for bad in (small, nan_layer):
        w.role_combos["sample"].value = bad
        n = len(notification_manager.records)
        w.assign_button.native.click()
        errors = _errors_since(n)
        assert len(errors) == 1, errors
        assert bad.name in errors[0]
        assert session(viewer).assignment is before, "a bad assignment must change nothing"
    assert "64×64" in _errors_since(0)[-2] and "48×64" in _errors_since(0)[-2]
    assert "NaN" in _errors_since(0)[-1]


def test_renaming_keeps_and_removing_clears_the_assignment(viewer_and_widget, qtbot):
    from napari.utils.notifications import notification_manager

    viewer, w = viewer_and_widget
    w.assign_button.native.click()
    viewer.layers["sample"].name = "my sample"
    assert w.role_combos["sample"].value is viewer.layers["my sample"]
    assert session(viewer).assignment.sample.name == "my sample"
    n = len(notification_manager.records)
    viewer.layers.remove("my sample")
    assert session(viewer).assignment is None
    assert w.status.value == "no roles assigned"
    qtbot.waitUntil(lambda: any("was removed" in str(r.message)
                                for r in notification_manager.records[n:]), timeout=2000)
    viewer.add_image(viewer.layers["reference"].data.copy(), name="sample")  # pre-selected again
    w.assign_button.native.click()
    assert session(viewer).assignment is not None
    n = len(notification_manager.records)
    viewer.layers.clear()  # what closing the viewer does: no notification about it
    qtbot.wait(50)
    assert not any("was removed" in str(r.message) for r in notification_manager.records[n:])


def test_geometry_json_round_trip(viewer_and_widget, tmp_path):
    _, w = viewer_and_widget
    g = Geometry(energy_keV=22.5, pixel_size_m=1.3e-6, distance_m=0.35, source_distance_m=140.0,
                 source_size_m=25e-6)
    path = tmp_path / "geometry.json"
    g.to_json(path)
    w.geometry_file.value = path
    w.load_geometry_button.native.click()
    assert w.geometry() == g
    w.energy_keV.value = 17.0
    out = tmp_path / "saved.json"
    w.geometry_file.value = out
    w.save_geometry_button.native.click()
    saved = json.loads(out.read_text())
    assert saved == {**g.to_dict(), "energy_keV": 17.0}
    n = len(notification_manager.records)
    w.geometry_file.value = tmp_path / "missing.json"
    w.load_geometry_button.native.click()
    assert _errors_since(n) and w.geometry().energy_keV == 17.0


def test_dark_flat_correction_recovers_the_normalised_image(viewer_and_widget):
    viewer, w = viewer_and_widget
    rng = np.random.default_rng(2)
    shape = (64, 64)
    dark = rng.uniform(90, 110, shape).astype(np.float32)
    gain = rng.uniform(800, 1200, shape).astype(np.float32)  # open-beam counts above dark
    speckle = (1 + 0.25 * rng.standard_normal(shape)).astype(np.float32)
    frames = np.stack([speckle * 0.8, speckle * 0.7])  # a 2-frame sample stack, 80 % and 70 %
    viewer.add_image(dark + gain * speckle, name="raw reference")
    viewer.add_image(dark + gain * frames, name="raw sample")
    viewer.add_image(np.stack([dark, dark + 0.0]), name="darks")  # a dark stack is averaged
    viewer.add_image(dark + gain, name="flat")
    for role, name in (("reference", "raw reference"), ("sample", "raw sample"), ("dark", "darks"),
                       ("flat", "flat")):
        w.role_combos[role].value = viewer.layers[name]
    w.assign_button.native.click()
    a = session(viewer).assignment
    assert a.n_frames == 2
    # (I − dark)/(flat − dark) is exact here: float32 rounding only
    frames = a.frames()  # the core's calibration (pipeline.Frames), as the CLI's --dark/--flat
    np.testing.assert_allclose(frames.reference_image(), speckle, rtol=0, atol=2e-5)
    np.testing.assert_allclose(frames.sample_frame(1), 0.7 * speckle, rtol=0, atol=2e-5)
    # swapped dark and flat: refused with the fix in the message
    w.role_combos["dark"].value, w.role_combos["flat"].value = viewer.layers["flat"], viewer.layers["darks"]
    n = len(notification_manager.records)
    w.assign_button.native.click()
    assert any("swapped" in e for e in _errors_since(n))
    assert session(viewer).assignment is a


def test_open_hdf5_dataset_into_a_role(viewer_and_widget, tmp_path):
    import h5py

    _, w = viewer_and_widget
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["entry/data/data"] = np.ones((3, 64, 64), np.float32)
        f["entry/flat"] = np.full((64, 64), 2.0, np.float32)
    w.file.value = path
    assert w.dataset.value == "/entry/data/data"  # the largest by default
    w.dataset.value = "/entry/flat"
    w.file_role.value = "flat"
    w.open_button.native.click()
    layer = w.role_combos["flat"].value
    assert layer is not None and layer.data.shape == (64, 64) and float(layer.data.mean()) == 2.0


def test_viewer_opens_and_saves_through_the_plugin(make_napari_viewer, tmp_path):
    from napari_specktrack.io import write_json

    viewer = make_napari_viewer()
    g = Geometry()
    write_json(tmp_path / "geometry.json", g.to_dict())
    import tifffile

    stack = np.random.default_rng(0).random((3, 32, 32), dtype=np.float32)
    tifffile.imwrite(tmp_path / "sample.tif", stack, photometric="minisblack")
    [layer] = viewer.open(str(tmp_path / "sample.tif"), plugin="napari-specktrack")
    assert layer.data.shape == (3, 32, 32)
    np.testing.assert_allclose(layer.scale[1:], g.layer_scale_um, rtol=1e-12)
    out = tmp_path / "saved" / "copy.tif"
    written = viewer.layers.save(str(out), selected=False, plugin="napari-specktrack")
    assert str(out) in written and out.with_suffix(".json").is_file()
    before = (tmp_path / "sample.tif").read_bytes()
    try:  # never over the file it was read from (napari turns the refusal into a warning)
        viewer.layers.save(str(tmp_path / "sample.tif"), selected=False, plugin="napari-specktrack")
    except Exception as exc:
        assert "overwrite" in str(exc)
    assert (tmp_path / "sample.tif").read_bytes() == before
