"""`specktrack pairs` on simulated stacks: the pair folder, refusals and bad inputs (exit 2)."""

import hashlib

import numpy as np
import pytest
import tifffile

from napari_specktrack.cli import main
from napari_specktrack.learn.pairs import read_pairs


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    from napari_specktrack.simulate import simulate

    acq = simulate("rotation", 128, frames=4, seed=2)
    d = tmp_path_factory.mktemp("stacks")
    acq.save(d)  # sample.tif, inline.tif, reference.tif carry the geometry
    tifffile.imwrite(d / "short.tif", acq.inline[:3])
    tifffile.imwrite(d / "moved.tif", np.stack([np.roll(f, (2, -1), axis=(0, 1))
                                                for f in acq.inline]))
    return d, acq


def _args(d, out, *extra, inline="inline.tif"):
    return ["pairs", "--reference", str(d / "reference.tif"), "--sample", str(d / "sample.tif"),
            "--inline", str(d / inline), "--crop", "64", "32", "--out", str(out), *extra]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pairs_writes_the_folder_and_refuses_to_overwrite(stacks, tmp_path, capsys):
    d, acq = stacks
    sums = {p.name: _sha(p) for p in d.glob("*.tif")}
    out = tmp_path / "pairs"
    assert main(_args(d, out, "--random", "3", "--seed", "7", "--validation-fraction", "0.25")) == 0
    captured = capsys.readouterr()
    assert "wrote 12 pairs" in captured.out and "review" in captured.err  # a progress bar
    folder = read_pairs(out)
    assert len(folder) == 12 and len(folder.subset("validation")) == 3
    rec = folder.records[5]
    assert rec["source"]["sample"]["sha256"] == sums["sample.tif"]
    assert rec["source"]["inline"]["sha256"] == sums["inline.tif"]
    y0, x0, h, w = rec["crop_yx_px"]
    inp, tgt = folder.load(5)
    np.testing.assert_array_equal(inp, (acq.sample[rec["frame"]] - acq.reference)[y0:y0 + h, x0:x0 + w])
    np.testing.assert_array_equal(tgt, acq.inline[rec["frame"]][y0:y0 + h, x0:x0 + w])
    assert folder.index["provenance"]["step"] == "pairs"
    # an existing set is refused before anything is computed; --overwrite replaces it whole
    (out / "notes.txt").write_text("mine")
    assert main(_args(d, out, "--grid")) == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert main(_args(d, out, "--random", "3", "--seed", "7", "--append")) == 2
    assert "already holds 12 of these crops" in capsys.readouterr().err
    assert main(_args(d, out, "--grid", "--append")) == 0
    assert len(read_pairs(out)) == 12 + 32
    assert main(_args(d, out, "--grid", "--overwrite")) == 2  # replacing would delete the notes
    assert "not part of a result" in capsys.readouterr().err
    (out / "notes.txt").unlink()
    assert main(_args(d, out, "--grid", "--overwrite")) == 0
    assert len(read_pairs(out)) == 32
    assert {p.name: _sha(p) for p in d.glob("*.tif")} == sums  # inputs untouched


def test_pairs_warns_of_a_shifted_target_and_corrects_it(stacks, tmp_path, capsys):
    d, _acq = stacks
    assert main(_args(d, tmp_path / "w", "--random", "1", inline="moved.tif")) == 0
    err = capsys.readouterr().err
    assert err.count("warning: frame") == 4 and "--register correct" in err
    assert main(_args(d, tmp_path / "c", "--random", "1", "--register", "correct",
                      inline="moved.tif")) == 0
    shifts = np.array([r["shift_yx_px"] for r in read_pairs(tmp_path / "c").records])
    np.testing.assert_allclose(shifts, np.tile([-2.0, 1.0], (4, 1)), atol=0.2)


@pytest.mark.parametrize("extra, inline, fragment", [
    (["--crop", "63", "32", "--grid"], "inline.tif", "multiples of 16"),
    (["--crop", "0", "32", "--grid"], "inline.tif", "positive"),
    (["--crop", "256", "32", "--grid"], "inline.tif", "larger than"),
    (["--random", "0"], "inline.tif", "≥ 1"),
    (["--random", "-3"], "inline.tif", "≥ 1"),
    (["--grid", "--validation-fraction", "1.5"], "inline.tif", "[0, 1)"),
    (["--grid", "--overwrite", "--append"], "inline.tif", "exclude each other"),
    (["--grid"], "missing.tif", "does not exist"),
    (["--grid"], "short.tif", "must match the sample"),
    (["--grid", "--dark", "nothere.tif"], "inline.tif", "does not exist"),
    (["--grid", "--exclude"], "inline.tif", None),  # valid: nothing excluded
])
def test_bad_inputs_are_one_line_errors_before_computing(stacks, tmp_path, capsys, extra,
                                                         inline, fragment):
    d, _acq = stacks
    out = tmp_path / "p"
    code = main(_args(d, out, *extra, inline=inline))
    err = capsys.readouterr().err
    if fragment is None:
        assert code == 0
        return
    assert code == 2 and fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_out_naming_a_file_is_refused(stacks, tmp_path, capsys):
    d, _acq = stacks
    (tmp_path / "file").write_text("x")
    assert main(_args(d, tmp_path / "file", "--grid")) == 2
    assert "is a file" in capsys.readouterr().err
