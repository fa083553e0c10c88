"""The pair-folder format v2: safe names, whole-set writes, complete checks on reading."""

import json
import os

import numpy as np
import pytest
import tifffile

from napari_specktrack.errors import FileFormatError, InputError, OutputError, SpecktrackError
from napari_specktrack.geometry import Geometry
from napari_specktrack.learn.pair_writer import PairWriter
from napari_specktrack.learn.pairs import choose_validation, read_pairs, write_pairs

RNG = np.random.default_rng(0)


def _images(n, shape=(16, 8)):
    return [RNG.normal(0, 0.1, shape).astype(np.float32) for _ in range(n)], \
           [RNG.normal(1, 0.1, shape).astype(np.float32) for _ in range(n)]


def _folder(path, names=("a", "b", "c"), references=True):
    inputs, targets = _images(len(names))
    refs = [t * 0 + 1 for t in targets] if references else None
    recs = [{"name": n, "frame": i, "crop_yx_px": [i, 0, 16, 8], "split": "train"}
            for i, n in enumerate(names)]
    return write_pairs(path, inputs, targets, recs, Geometry(), references=refs)


@pytest.mark.parametrize("name", ["../../x", "../x", "a/b", "a\\b", "..", ".hidden", "/abs",
                                  "x" * 200, "a b"])
def test_unsafe_names_are_refused_and_nothing_is_written(tmp_path, name):
    out = tmp_path / "deep" / "pairs"
    inputs, targets = _images(1)
    with pytest.raises(InputError, match="not a safe file name"):
        write_pairs(out, inputs, targets, [{"name": name}], Geometry())
    assert not out.exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []  # nothing outside (or inside) the folder, no staging left


def test_round_trip_references_and_splits(tmp_path):
    folder = read_pairs(_folder(tmp_path / "p"))
    assert folder.version == 2 and folder.names == ["a", "b", "c"]
    inp, tgt = folder.load(1)
    assert inp.shape == tgt.shape == (16, 8)
    np.testing.assert_array_equal(folder.load_reference(2), np.ones((16, 8), np.float32))
    assert [r["split"] for r in folder.records] == ["train"] * 3
    assert folder.records[0]["shift_yx_px"] is None and folder.records[0]["flags"] == []
    assert len(folder.subset("validation")) == 0 and len(folder.subset("train")) == 3


def test_version_1_folders_still_read(tmp_path):
    out = tmp_path / "v1"
    (out / "inputs").mkdir(parents=True)
    (out / "targets").mkdir()
    tifffile.imwrite(out / "inputs" / "p.tif", np.zeros((8, 8), np.float32))
    tifffile.imwrite(out / "targets" / "p.tif", np.ones((8, 8), np.float32))
    (out / "pairs.json").write_text(json.dumps({
        "format": "specktrack-pairs", "version": 1, "geometry": Geometry().to_dict(),
        "normalisation": None, "pairs": [{"name": "p", "source": {}, "frame": None,
                                          "crop_yx_px": None, "shape": [8, 8],
                                          "target": "in-line image"}]}))
    folder = read_pairs(out)
    assert folder.version == 1 and folder.records[0]["split"] == "train"
    assert folder.load_reference(0) is None


def _corrupt(kind, p):
    index = json.loads((p / "pairs.json").read_text())
    if kind == "missing target":
        (p / "targets" / "b.tif").unlink()
    elif kind == "missing reference":
        (p / "references" / "c.tif").unlink()
    elif kind == "garbage tiff":
        (p / "inputs" / "a.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    elif kind == "not a tiff":
        (p / "inputs" / "a.tif").write_bytes(b"hello")
    elif kind == "3-D image":
        tifffile.imwrite(p / "inputs" / "b.tif", np.zeros((2, 16, 8), np.float32))
    elif kind == "other shape":
        tifffile.imwrite(p / "targets" / "c.tif", np.zeros((16, 9), np.float32))
    elif kind == "NaN pixel":
        a = np.zeros((16, 8), np.float32)
        a[3, 4] = np.nan
        tifffile.imwrite(p / "targets" / "a.tif", a)
    elif kind == "bad json":
        (p / "pairs.json").write_text("{not json")
    else:
        rec = index["pairs"][1]
        change = {"unsafe name": ("name", "../../b"), "duplicate name": ("name", "a"),
                  "bad split": ("split", "test"), "bad crop": ("crop_yx_px", [0, 0, 16]),
                  "crop vs shape": ("crop_yx_px", [0, 0, 32, 8]),
                  "bad shift": ("shift_yx_px", ["x", 1]), "bad frame": ("frame", -1)}
        if kind in change:
            rec[change[kind][0]] = change[kind][1]
        elif kind == "bad version":
            index["version"] = 9
        elif kind == "no geometry":
            del index["geometry"]
        elif kind == "bad normalisation":
            index["normalisation"] = {"input_scale": -1, "target_min": 0, "target_max": 1}
        elif kind == "pairs not a list":
            index["pairs"] = {"a": 1}
        (p / "pairs.json").write_text(json.dumps(index))


CORRUPTIONS = ["missing target", "missing reference", "garbage tiff", "not a tiff", "3-D image",
               "other shape", "NaN pixel", "bad json", "unsafe name", "duplicate name",
               "bad split", "bad crop", "crop vs shape", "bad shift", "bad frame", "bad version",
               "no geometry", "bad normalisation", "pairs not a list"]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_folders_raise_one_clear_error(tmp_path, kind):
    p = _folder(tmp_path / "p")
    _corrupt(kind, p)
    with pytest.raises(FileFormatError) as err:
        read_pairs(p)
    message = str(err.value)
    assert "\n" not in message and issubclass(err.type, SpecktrackError)
    if kind not in ("bad json", "bad version", "no geometry", "bad normalisation",
                    "pairs not a list"):
        assert "pair" in message and ("'" in message)  # names the pair


def test_header_check_without_values_misses_only_nan(tmp_path):
    p = _folder(tmp_path / "p")
    _corrupt("NaN pixel", p)
    folder = read_pairs(p, check_values=False)  # shapes only: cheap
    with pytest.raises(FileFormatError, match="'a'"):
        folder.load(0)


def test_writer_modes_new_overwrite_append_update(tmp_path):
    p = _folder(tmp_path / "p")
    before = (p / "inputs" / "a.tif").read_bytes()
    with pytest.raises(OutputError, match="--overwrite"):
        _folder(p, names=("d",))
    assert (p / "inputs" / "a.tif").read_bytes() == before
    # append keeps every pair (linked, not copied) and adds new ones
    inputs, targets = _images(1)
    write_pairs(p, inputs, targets, [{"name": "d"}], Geometry(), append=True)
    folder = read_pairs(p)
    assert folder.names == ["a", "b", "c", "d"]
    assert (p / "inputs" / "a.tif").read_bytes() == before
    with pytest.raises(InputError, match="already exists"):
        write_pairs(p, inputs, targets, [{"name": "d"}], Geometry(), append=True)
    with pytest.raises(InputError, match="another geometry"):
        write_pairs(p, inputs, targets, [{"name": "e"}], Geometry(energy_keV=20.0), append=True)
    # update keeps what it is told to, with edits
    with PairWriter(p, Geometry(), mode="update") as w:
        w.keep("b", split="validation")
        w.add(inputs[0], targets[0], {"name": "e"})
    folder = read_pairs(p)
    assert folder.names == ["b", "e"] and folder.records[0]["split"] == "validation"
    assert sorted(x.name for x in (p / "inputs").iterdir()) == ["b.tif", "e.tif"]
    # overwrite replaces the set whole: nothing of the old one stays; a foreign file is kept
    # by refusing (replacing the folder would delete it)
    (p / "stale.txt").write_text("old")
    with pytest.raises(OutputError, match="not part of a result"):
        write_pairs(p, inputs, targets, [{"name": "z"}], Geometry(), overwrite=True)
    (p / "stale.txt").unlink()
    write_pairs(p, inputs, targets, [{"name": "z"}], Geometry(), overwrite=True)
    assert sorted(x.name for x in p.iterdir()) == ["inputs", "pairs.json", "targets"]
    assert read_pairs(p).names == ["z"]
    assert oct(os.stat(p / "pairs.json").st_mode & 0o777) != "0o600"


def test_a_failed_write_leaves_the_old_set_untouched(tmp_path):
    p = _folder(tmp_path / "p")
    before = sorted(x.relative_to(p) for x in p.rglob("*"))
    inputs, targets = _images(2)
    targets[1][0, 0] = np.inf
    with pytest.raises(InputError, match="NaN/inf"):
        write_pairs(p, inputs, targets, [{"name": "x"}, {"name": "y"}], Geometry(),
                    overwrite=True)
    assert sorted(x.relative_to(p) for x in p.rglob("*")) == before
    assert [x.name for x in tmp_path.iterdir()] == ["p"]  # no staging left behind


def test_validation_split_is_seeded_and_never_empty_or_all():
    a = choose_validation(20, 0.25, seed=3)
    assert a.sum() == 5 and np.array_equal(a, choose_validation(20, 0.25, seed=3))
    assert not np.array_equal(a, choose_validation(20, 0.25, seed=4))
    assert choose_validation(4, 0.1).sum() == 1 and choose_validation(2, 0.9).sum() == 1
    assert choose_validation(1, 0.5).sum() == 0 and choose_validation(5, 0.0).sum() == 0
    with pytest.raises(InputError, match=r"\[0, 1\)"):
        choose_validation(5, 1.0)


def test_simulated_pairs_carry_references_and_a_split(tmp_path):
    from napari_specktrack.cli import main
    from napari_specktrack.simulate.imaging import SimulationConfig, simulate

    out = tmp_path / "sim"
    args = ["simulate", "--pairs", "3", "--size", "32", "--seed", "4", "--out", str(out),
            "--phantom", "foam", "--validation-fraction", "0.3"]
    assert main(args) == 0
    folder = read_pairs(out)
    assert [r["split"] for r in folder.records].count("validation") == 1
    rec = folder.records[0]
    acq = simulate("foam", 32, seed=4, config=SimulationConfig.from_dict(rec["source"]["config"]))
    inp, _tgt = folder.load(0)
    np.testing.assert_allclose(inp + folder.load_reference(0), acq.sample, atol=1e-6)
    assert main(args) == 2  # an existing set is refused …
    assert main([*args, "--overwrite"]) == 0  # … unless replaced whole
