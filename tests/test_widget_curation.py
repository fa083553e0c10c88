"""The Pair curation dock: a crop placed by moving the box, the keyboard review, export whose
crops equal the sources at the recorded box, reopen and edit, mis-registration warned and
corrected. Jobs run synchronously (``SPECKTRACK_NOTHREADS``) where values are checked.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

from napari_specktrack.learn.curation import Box  # noqa: E402
from napari_specktrack.learn.pairs import read_pairs  # noqa: E402
from napari_specktrack.learn.registration import measure_shift  # noqa: E402
from napari_specktrack.widgets._workers import NOTHREADS_ENV  # noqa: E402
from napari_specktrack.widgets.curation import CurationWidget  # noqa: E402
from napari_specktrack.widgets.curation.layers import BOX_NAME, TARGET_NAME, rect_of  # noqa: E402

CROP = (64, 32)  # px, multiples of 16
ROLL_PX = 2  # the in-line stack moved along x against the sample


@pytest.fixture(scope="module")
def acq():
    from napari_specktrack.simulate import simulate

    return simulate("rotation", 96, frames=4, seed=1)


def _dock(viewer, acq, inline=None):
    meta = {"geometry": acq.geometry.to_dict()}
    scale = acq.geometry.layer_scale_um
    um, stack = ("um", "um"), ("pixel", "um", "um")
    viewer.add_image(acq.reference, name="reference", scale=scale, metadata=meta, units=um)
    viewer.add_image(acq.sample, name="sample", scale=(1.0, *scale), metadata=meta, units=stack)
    viewer.add_image(acq.inline if inline is None else inline, name="in-line", scale=(1.0, *scale),
                     metadata=meta, units=stack)
    dock = CurationWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.rows.crop_h.value, dock.rows.crop_w.value = CROP
    dock.rows.multiple.value = 16
    assert dock.use_sources()
    return dock


def _press(viewer, key):
    from qtpy.QtWidgets import QApplication

    assert viewer.window._qt_viewer._key_map_handler.press_key(key), key
    QApplication.processEvents()


def _drag_to(viewer, dock, y0, x0, *, grow=0.0):
    """What a drag of the box on the target image leaves in the Shapes layer."""
    from qtpy.QtWidgets import QApplication

    layer = viewer.layers[BOX_NAME]
    moved = rect_of(Box(y0, x0, *CROP), dock.pair_layers.offset_px)
    moved[2:, 0] += grow  # a resize, from the bottom edge
    layer.data = [layer.data[0], moved]
    QApplication.processEvents()


def test_place_review_export_reopen_edit(make_napari_viewer, monkeypatch, acq, tmp_path):
    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_napari_viewer(show=True)
    dock = _dock(viewer, acq)
    assert dock.keys.bound
    box_layer = viewer.layers[BOX_NAME]
    assert viewer.layers[TARGET_NAME].translate[1] > 0  # the target beside the input

    _drag_to(viewer, dock, 10, 20, grow=6.0)  # moved and resized: the size snaps back
    assert dock.draft == Box(13, 20, *CROP)  # the centre is kept
    for rect in box_layer.data:
        np.testing.assert_allclose(np.ptp(rect, axis=0), CROP)
    _drag_to(viewer, dock, 10, 20)
    assert dock.draft == Box(10, 20, *CROP)
    np.testing.assert_allclose(box_layer.data[0], rect_of(Box(10, 20, *CROP)))  # both linked
    _drag_to(viewer, dock, 500, -9)  # off the frame: clamped inside
    assert dock.draft == Box(96 - 64, 0, *CROP)

    _press(viewer, "a")  # accept the box as a new crop
    dock.rows.frame.value = 2
    _drag_to(viewer, dock, 16, 48)
    viewer.layers.selection.active = box_layer  # the Shapes keys (r: rectangles) are overridden
    _press(viewer, "r")
    assert dock.review.counts() == (1, 1, 0)
    assert "accepted 1 · rejected 1 · remaining 0" in dock.rows.counter.value
    _press(viewer, "u")  # undo the rejection
    assert dock.review.counts() == (1, 0, 0) and dock.rows.frame.value == 0  # back at crop 1
    dock.rows.frame.value = 2
    _drag_to(viewer, dock, 8, 40)
    _press(viewer, "a")
    dock.rows.frames.value = "all frames"
    dock.rows.n_random.value = 2
    assert dock.propose()
    assert dock.review.counts().remaining == 8
    dock.run_button.native.click()  # auto review of the pending crops
    assert dock.review.counts().remaining == 0
    accepted = dock.review.accepted()

    out = tmp_path / "pairs"
    dock.rows.folder.value = out
    dock.rows.validation.value = 0.25
    assert dock.export()
    folder = read_pairs(out)
    assert len(folder) == len(accepted) >= 2
    assert {(r["frame"], tuple(r["crop_yx_px"])) for r in folder.records} >= {
        (0, (32, 0, *CROP)), (2, (8, 40, *CROP))}
    for i, rec in enumerate(folder.records):  # the crops are the sources at the recorded box
        ys, xs = Box(*rec["crop_yx_px"]).slices
        inp, tgt = folder.load(i)
        np.testing.assert_array_equal(inp, acq.sample[rec["frame"]][ys, xs] - acq.reference[ys, xs])
        np.testing.assert_array_equal(tgt, acq.inline[rec["frame"]][ys, xs])

    asked = []
    dock.confirm = lambda title, text: asked.append(text) or False
    assert not dock.export()  # never over a set silently: asked, and refused
    assert asked and read_pairs(out).names == folder.names
    assert dock.export(mode="overwrite")

    assert dock.reopen(out)  # reopen and edit: remove one, re-crop one, add one
    assert dock.review.counts() == (len(folder), 0, 0)
    dock.review.go(0)
    dock.remove()
    first = dock.review.current
    dock.rows.frame.value = first.frame
    _drag_to(viewer, dock, 0, 64)
    assert dock.recrop()
    dock.rows.frame.value = 3
    _drag_to(viewer, dock, 24, 24)
    _press(viewer, "a")
    dock.confirm = lambda title, text: asked.append(title) or True
    assert dock.export()
    assert asked[-1] == "Update the pair set?"
    edited = read_pairs(out)
    assert len(edited) == len(folder)
    assert f"f{first.frame:05d}_y00000_x00064" in edited.names
    inp, tgt = edited.load(edited.position("f00003_y00024_x00024"))
    np.testing.assert_array_equal(tgt, acq.inline[3][24:88, 24:56])

    dock.native.hide()  # the keys are the dock's only while it is active (shown)
    assert not dock.keys.bound and not viewer.window._qt_viewer._key_map_handler.press_key("u")
    dock.native.show()
    assert dock.keys.bound
    viewer.window.remove_dock_widget(dock.native)  # closed: unbound
    assert not dock.keys.bound


def test_a_shifted_target_is_warned_and_corrected(make_napari_viewer, monkeypatch, acq, tmp_path):
    import napari_specktrack.widgets.curation.registering as registering

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    warnings = []
    monkeypatch.setattr(registering, "notify_warning", warnings.append)
    viewer = make_napari_viewer()
    dock = _dock(viewer, acq, inline=np.roll(acq.inline, ROLL_PX, axis=2))
    dock.rows.frames.value = "all frames"
    assert dock.measure_shifts()
    assert warnings and "mis-registration" in warnings[0]
    assert "⚠" in dock.rows.registration.value
    assert dock.correct_shifts() == 4
    cs = dock.cs
    for f in range(4):  # the unshifted pair's own offset, measured the same way
        own = measure_shift(cs.input_frame(f), acq.inline[f])
        applied = np.asarray(cs.shift_of(f))
        assert np.abs(applied - (own + np.array([0.0, -ROLL_PX]))).max() < 0.1, (f, applied, own)
        inner = slice(8, -8)  # away from the band np.roll wrapped round
        residual = measure_shift(cs.input_frame(f)[inner, inner], cs.target_frame(f)[inner, inner])
        assert np.abs(residual).max() < 0.1, (f, residual)

    # the correction is recorded, and kept when the set is reopened and the sources loaded
    _press(viewer, "a")
    dock.rows.folder.value = tmp_path / "pairs"
    assert dock.export()
    recorded = read_pairs(tmp_path / "pairs").records[0]["shift_yx_px"]
    np.testing.assert_allclose(recorded, cs.shift_of(0))
    dock.cs = None
    assert dock.reopen() and dock.use_sources() and dock.cs is not cs
    np.testing.assert_allclose(dock.cs.shift_of(0), recorded)
