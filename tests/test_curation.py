"""Curation of measured pairs: crops equal their sources, flags, registration, the review model."""

import numpy as np
import pytest

from napari_specktrack.errors import InputError, OutputError
from napari_specktrack.geometry import Geometry
from napari_specktrack.learn.curation import Box, CurationSession, check_crop
from napari_specktrack.learn.curation_io import auto_review, export_pairs, propose, reopen
from napari_specktrack.learn.pairs import read_pairs
from napari_specktrack.learn.registration import apply_shift, measure_shift
from napari_specktrack.learn.review import SHORTCUTS, Review
from napari_specktrack.pipeline import Frames

CROP = (64, 32)
SHIFT = np.array([1.6, -2.3])  # px, the in-line stack moved against the sample


@pytest.fixture(scope="module")
def acq():
    from napari_specktrack.simulate import simulate

    return simulate("rotation", 128, frames=4, seed=1)


def _session(acq, inline=None, **kw):
    frames = Frames(acq.sample, acq.reference, inline=acq.inline if inline is None else inline)
    return CurationSession(frames, crop_yx_px=CROP, geometry=Geometry(), **kw)


def test_export_reopen_edit_round_trip(acq, tmp_path):
    s = _session(acq)
    review = Review(propose(s, random=2, seed=5))
    review.set_statuses({i: "accepted" for i in range(len(review))})
    out = tmp_path / "pairs"
    result = export_pairs(s, review, out, validation_fraction=0.25, seed=1)
    folder = read_pairs(out)
    assert len(folder) == 8 and result.n_validation == 2
    for i, rec in enumerate(folder.records):  # the crops are the source images at the box
        y0, x0, h, w = rec["crop_yx_px"]
        f = rec["frame"]
        inp, tgt = folder.load(i)
        np.testing.assert_array_equal(inp, (acq.sample[f] - acq.reference)[y0:y0 + h, x0:x0 + w])
        np.testing.assert_array_equal(tgt, acq.inline[f][y0:y0 + h, x0:x0 + w])
        np.testing.assert_array_equal(folder.load_reference(i), acq.reference[y0:y0 + h, x0:x0 + w])
    with pytest.raises(OutputError, match="--overwrite"):
        export_pairs(s, review, out)  # never over a set silently
    # reopen and edit: remove one, re-crop one, add one
    again = reopen(out, s)
    assert again.counts() == (8, 0, 0)
    keep_name, recropped = again.items[2].name, again.items[1]
    again.remove(0)
    again.recrop(s.box(8, 16), 0)
    again.add(3, s.box(40, 40), "accepted")
    splits = {r["name"]: r["split"] for r in folder.records}
    linked = (out / "inputs" / f"{keep_name}.tif").stat().st_ino
    result = export_pairs(s, again, out, mode="update")
    edited = read_pairs(out)
    assert len(edited) == 8 and result.kept == 6 and result.cut == 2
    assert recropped.name not in edited.names and folder.names[0] not in edited.names
    assert {"f00000_y00008_x00016", "f00003_y00040_x00040"} <= set(edited.names)
    assert (out / "inputs" / f"{keep_name}.tif").stat().st_ino == linked  # kept, not rewritten
    assert all(r["split"] == splits[r["name"]] for r in edited.records if r["name"] in splits)
    inp, _ = edited.load(edited.position("f00003_y00040_x00040"))
    np.testing.assert_array_equal(inp, (acq.sample[3] - acq.reference)[40:104, 40:72])
    # without the sources a set can still be pruned, but not re-cropped
    pruned = reopen(out)
    pruned.go(1)
    pruned.reject()
    export_pairs(None, pruned, out, mode="update")
    assert len(read_pairs(out)) == 7
    pruned.recrop(Box(0, 0, *CROP), 0)
    with pytest.raises(InputError, match="source stacks"):
        export_pairs(None, pruned, out, mode="update")


def test_a_shifted_target_is_detected_and_corrected(acq):
    from scipy.ndimage import shift as spline_shift

    moved = np.stack([spline_shift(f, SHIFT, order=3, mode="nearest") for f in acq.inline])
    plain, shifted = _session(acq), _session(acq, inline=moved.astype(np.float32))
    review = Review(propose(shifted, random=1, seed=0))
    report = auto_review(shifted, review, register="warn")
    assert len(report.warnings) == 4 and "pass --register correct" in report.warnings[0]
    for f in range(4):
        base = plain.measure_shift(f)  # the perfectly registered pair: the estimate's bias
        measured = shifted.measure_shift(f)
        assert np.abs(base).max() < 0.15
        np.testing.assert_allclose(measured - base, -SHIFT, atol=0.05)
        shifted.set_shift(f, measured)
        corrected = shifted.target_frame(f)
        # the correction removes the shift: measured again it is < 0.1 px …
        assert np.abs(measure_shift(shifted.input_frame(f), corrected)).max() < 0.1
        # … and the corrected target sits on the original one up to the estimate's bias
        inner = (slice(8, -8), slice(8, -8))  # away from the replicated border of the move
        residual = measure_shift(acq.inline[f][inner], corrected[inner])
        np.testing.assert_allclose(residual, -base, atol=0.05)
    report = auto_review(_session(acq, inline=moved.astype(np.float32)),
                         Review(propose(plain, random=1)), register="correct")
    assert report.corrected == [0, 1, 2, 3] and "corrected" in report.warnings[0]


def test_apply_shift_moves_content_by_the_shift():
    y, x = np.mgrid[0:64, 0:64]
    img = np.exp(-((y - 30.0) ** 2 + (x - 34.0) ** 2) / 20.0)
    out = apply_shift(img, (2.25, -1.5))
    cy, cx = (np.array([(y * out).sum(), (x * out).sum()]) / out.sum())
    assert cy == pytest.approx(32.25, abs=1e-3) and cx == pytest.approx(32.5, abs=1e-3)


def test_flags_edge_saturated_dead_empty_no_speckle(acq):
    gain = 20000.0
    sample = (acq.sample * gain).astype(np.uint16)
    inline = (acq.inline * gain).astype(np.uint16)
    reference = (acq.reference * gain).astype(np.uint16)
    sample[1, 40, 50] = 65535  # saturated
    inline[2, 45, 60] = 0  # dead
    ys, xs = slice(56, 128), slice(0, 40)
    sample[3, ys, xs] = reference[ys, xs]  # no sample here …
    inline[3, ys, xs] = np.random.default_rng(0).normal(gain, 140, (72, 40)).astype(np.uint16)
    sample[0] = inline[0]  # the membrane was out for frame 0
    s = CurationSession(Frames(sample, reference, inline=inline), crop_yx_px=CROP)
    assert s.intensity_scale == pytest.approx(1 / reference.mean(), rel=1e-3)
    inside = Box(32, 44, *CROP)
    assert s.flags(1, Box(0, 44, *CROP)) == ("edge", "saturated")
    assert s.flags(1, inside) == ("saturated",)
    assert s.flags(2, inside) == ("dead",)
    assert s.flags(3, Box(60, 2, *CROP)) == ("empty",)
    assert s.flags(3, inside) == ()
    assert "no_speckle" in s.flags(0, inside)
    review = Review(propose(s, boxes=[inside]))
    report = auto_review(s, review, register="off")
    assert [c.status for c in review.items] == ["rejected", "rejected", "rejected", "accepted"]
    assert report.accepted == 1 and report.flag_counts["saturated"] == 1
    assert review.undo() and review.counts() == (0, 0, 4)  # the auto-review is one step


def test_review_model_accept_reject_undo_counters(acq):
    s = _session(acq)
    review = Review(propose(s, grid=True, frames=[0]))
    seen = []
    review.subscribe(lambda r: seen.append(r.index))
    assert len(review) == 8 and review.counts() == (0, 0, 8)
    review.accept()
    review.reject()
    assert review.counts() == (1, 1, 6) and review.index == 2
    review.previous()
    review.act("accept")
    assert review.counts() == (2, 0, 6)
    assert review.undo() and review.counts() == (1, 1, 6)
    assert review.undo() and review.undo() and review.counts() == (0, 0, 8)
    assert review.index == 0 and not review.undo()
    assert review.redo() and review.counts() == (1, 0, 7)
    review.go(7)
    review.remove()
    assert len(review) == 7 and review.index == 6
    review.undo()
    assert len(review) == 8
    with pytest.raises(InputError, match="already in the review"):
        review.add(0, review.items[1].box)
    with pytest.raises(InputError, match="already in the review"):
        review.recrop(review.items[1].box, 0)
    review.recrop(s.clamp_box(500, 91.6), 0)  # dragged off the frame: clamped, rounded
    assert review.items[0].box == Box(64, 92, *CROP)
    assert set(SHORTCUTS.values()) <= {"accept", "reject", "next", "previous", "undo", "redo"}
    assert seen  # listeners hear every change


def test_crop_and_box_checks(acq):
    with pytest.raises(InputError, match="multiples of 16"):
        check_crop((63, 32))
    with pytest.raises(InputError, match="positive"):
        check_crop((0, 32))
    with pytest.raises(InputError, match="larger than"):
        check_crop((256, 32), (128, 128))
    s = _session(acq)
    with pytest.raises(InputError, match="leaves the"):
        s.box(100, 0)
    with pytest.raises(InputError, match="≥ 1"):
        s.random_boxes(0)
    assert s.random_boxes(3, seed=2, frame=1) == s.random_boxes(3, seed=2, frame=1)
    assert s.random_boxes(3, seed=2, frame=1) != s.random_boxes(3, seed=2, frame=2)
    grid = s.grid_boxes()
    cover = np.zeros(s.shape_yx, int)
    for b in grid:
        cover[b.slices] += 1
    assert len(grid) == 8 and cover.max() == 1
    with pytest.raises(InputError, match="in-line"):
        CurationSession(Frames(acq.sample, acq.reference), crop_yx_px=CROP)
