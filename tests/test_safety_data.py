"""Issue 11, "data lost or at risk": never overwrite, replace whole, inputs never written,
umask, stale temporaries — through the command line and the Python API."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _safety_support import (
    DEAD_PID,
    acquisition,
    copy_tree,
    error_line,
    modes,
    result,
    run_cli,
    sha256s,
    stale_part,
)

from napari_specktrack import _writer
from napari_specktrack.errors import SpecktrackError
from napari_specktrack.geometry import Geometry
from napari_specktrack.pipeline.files import RESULT_FILES
from napari_specktrack.safety import OutputSet, atomic_write


@pytest.fixture(scope="module")
def acq(tmp_path_factory):
    return acquisition(tmp_path_factory)


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    return result(tmp_path_factory)


def _retrieve(acq, out, *extra):
    return ["retrieve", "--reference", acq / "reference.tif", "--sample", acq / "sample.tif",
            "--out", out, *extra]


# --- never overwrite --------------------------------------------------------------------------
def test_existing_result_is_refused_and_kept(acq, res, capsys):
    err = run_cli(capsys, _retrieve(acq, res), acq, res)
    assert "already holds a result" in err and "--overwrite" in err


def test_overwrite_replaces_the_set_whole_without_stale_files(acq, res, tmp_path, capsys):
    out = copy_tree(res, tmp_path / "res")
    (out / "inline_generated.tif").write_bytes(b"from an earlier double-exposure run")
    run_cli(capsys, _retrieve(acq, out, "--overwrite"), acq, rc=0)
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"


def test_overwrite_never_replaces_a_folder_with_other_files(acq, res, tmp_path, capsys):
    out = copy_tree(res, tmp_path / "res")
    (out / "notes.txt").write_text("my notes")
    err = run_cli(capsys, _retrieve(acq, out, "--overwrite"), acq, out)
    assert "notes.txt" in err and "would delete them" in err


def test_generate_refuses_an_existing_output(acq, tmp_path, capsys):
    out = tmp_path / "inline.tif"
    out.write_bytes(b"an earlier result")
    err = run_cli(capsys, ["generate", "--reference", acq / "reference.tif", "--sample",
                           acq / "sample.tif", "--out", out], acq, out)
    assert "--overwrite" in err


def test_simulate_refuses_an_existing_acquisition(acq, capsys):
    err = run_cli(capsys, ["simulate", "--size", "64", "--out", acq], acq)
    assert "already holds a result" in err


def test_profile_refuses_an_existing_output_and_overwrite_replaces_it(acq, tmp_path, capsys):
    out = tmp_path / "m.json"
    out.write_text("{}")
    argv = ["profile", "--image", acq / "truth_phase.tif", "--line", "48", "0", "48", "95",
            "--geometry", acq / "geometry.json", "--no-fit", "--json", out]
    err = run_cli(capsys, argv, acq, out)
    assert "--overwrite" in err
    run_cli(capsys, [*argv, "--overwrite"], acq, rc=0)
    assert "line_yx_px" in out.read_text()


def test_pairs_refuses_an_existing_pair_folder(acq, tmp_path, capsys):
    out = tmp_path / "pairs"
    argv = ["pairs", "--reference", acq / "reference.tif", "--sample", acq / "sample.tif",
            "--inline", acq / "inline.tif", "--crop", "32", "32", "--grid", "--out", out]
    run_cli(capsys, argv, acq, rc=0)
    err = run_cli(capsys, argv, acq, out)
    assert "--append" in err and "--overwrite" in err


# --- inputs are never written -----------------------------------------------------------------
@pytest.mark.parametrize("case", ["out-is-input", "inputs-inside-out", "background-inside-out"])
def test_retrieve_never_writes_an_input(acq, tmp_path, capsys, case):
    if case == "out-is-input":
        argv, fragment = _retrieve(acq, acq / "sample.tif"), "sample.tif"
    elif case == "inputs-inside-out":
        argv, fragment = _retrieve(acq, acq, "--overwrite"), "lies inside"
    else:
        out = tmp_path / "res"
        out.mkdir()
        mask = out / "mask.tif"
        _writer.write_single_image(str(mask), np.ones((96, 96), np.float32), {"name": "mask"})
        argv, fragment = _retrieve(acq, out, "--background", mask, "--overwrite"), "mask.tif"
    err = run_cli(capsys, argv, acq, tmp_path)
    assert fragment in error_line(err)


@pytest.mark.parametrize("command", ["generate", "profile-json", "profile-csv", "simulate"])
def test_other_commands_never_write_an_input(acq, tmp_path, capsys, command):
    ref, smp = acq / "reference.tif", acq / "sample.tif"
    line = ["--line", "48", "0", "48", "95", "--geometry", acq / "geometry.json"]
    argv = {
        "generate": ["generate", "--reference", ref, "--sample", smp, "--out", smp],
        "profile-json": ["profile", "--image", acq / "truth_phase.tif", *line, "--phantom",
                         acq / "phantom.json", "--json", acq / "phantom.json"],
        "profile-csv": ["profile", "--image", acq / "truth_phase.tif", *line, "--no-fit",
                        "--csv", acq / "truth_phase.tif", "--overwrite"],
        "simulate": ["simulate", "--size", "64", "--geometry", acq / "geometry.json", "--out",
                     acq, "--overwrite"],
    }[command]
    err = run_cli(capsys, argv, acq)
    assert "input" in error_line(err)


def test_pairs_never_replace_the_folder_of_their_inputs(acq, capsys):
    err = run_cli(capsys, ["pairs", "--reference", acq / "reference.tif", "--sample",
                           acq / "sample.tif", "--inline", acq / "inline.tif", "--crop", "32",
                           "32", "--grid", "--out", acq, "--overwrite"], acq)
    assert "lies inside" in err


def test_a_layer_named_like_a_side_file_keeps_the_folder_files(acq, tmp_path):
    folder = copy_tree(acq, tmp_path / "acq")
    before = sha256s(folder)
    image = np.ones((8, 8), np.float32)
    layers = [(image, {"name": name}, "image")
              for name in ("geometry", "provenance", "phantom", "pairs", "simulation")]
    written = _writer.write_multiple(str(folder), layers)
    assert all(os.path.basename(p).split(".")[0].endswith("_layer") for p in written)
    after = sha256s(folder)
    assert {k: v for k, v in after.items() if k in before} == before
    with pytest.raises(SpecktrackError, match="not a layer sidecar"):
        _writer.write_single_image(str(folder / "geometry.tif"), image, {"name": "g"})
    assert sha256s(folder / "geometry.json") == {str(folder / "geometry.json"):
                                                 before[str(folder / "geometry.json")]}


def test_the_writer_never_replaces_the_layers_input(acq, tmp_path):
    folder = copy_tree(acq, tmp_path / "acq")
    before = sha256s(folder)
    meta = {"name": "s", "metadata": {"source_path": str(folder / "sample.tif"),
                                      "provenance": {"inputs": [str(folder / "reference.tif")]}}}
    for target in ("sample.tif", "reference.tif"):
        with pytest.raises(SpecktrackError, match="refusing to overwrite the input"):
            _writer.write_single_image(str(folder / target), np.ones((8, 8)), meta)
    assert sha256s(folder) == before


def test_pair_names_never_leave_the_folder(tmp_path):
    from napari_specktrack.learn.pairs import write_pairs

    a = np.ones((16, 16), np.float32)
    with pytest.raises(SpecktrackError, match="not a safe file name"):
        write_pairs(tmp_path / "p", [a], [a], [{"name": "../../x"}], Geometry())
    assert list(tmp_path.rglob("*.tif")) == []


def test_appending_keeps_the_other_files_of_a_pair_folder(tmp_path):
    from napari_specktrack.learn.pairs import read_pairs, write_pairs

    a = np.ones((16, 16), np.float32)
    out = write_pairs(tmp_path / "p", [a], [a], [{"name": "a"}], Geometry())
    (out / "README.txt").write_text("how these pairs were made")
    write_pairs(out, [a], [a], [{"name": "b"}], Geometry(), append=True)
    assert (out / "README.txt").read_text() == "how these pairs were made"
    assert read_pairs(out).names == ["a", "b"]


def test_api_output_set_refuses_an_input_before_anything_is_written(acq, tmp_path):
    with pytest.raises(SpecktrackError, match="lies inside"):
        OutputSet(acq, inputs=[acq / "sample.tif"], overwrite=True)
    with pytest.raises(SpecktrackError, match="refusing to overwrite the input"):
        OutputSet(acq / "sample.tif", inputs=[acq / "sample.tif"], files=["sample.tif"])


# --- umask ------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_follow_the_umask(acq, tmp_path, capsys, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        out = tmp_path / "res"
        run_cli(capsys, _retrieve(acq, out, "--window-px", "9", "--search-px", "3"), acq, rc=0)
        g = tmp_path / "g.json"
        Geometry().to_json(g)
    finally:
        os.umask(old)
    assert modes(out) == {file_mode}
    assert os.stat(out).st_mode & 0o777 == dir_mode
    assert os.stat(g).st_mode & 0o777 == file_mode


# --- stale temporaries ------------------------------------------------------------------------
def test_a_killed_writers_temporaries_are_cleaned_on_the_next_run(acq, tmp_path, capsys):
    part = stale_part(tmp_path, "res")
    staging = tmp_path / f".res.staging-{DEAD_PID}-deadbeef"
    staging.mkdir()
    (staging / "phase.tif").write_bytes(b"half")
    live = tmp_path / f".other.{os.getpid()}.cafe0123.part"  # a live writer's: kept
    live.write_bytes(b"being written")
    run_cli(capsys, _retrieve(acq, tmp_path / "res", "--window-px", "9", "--search-px", "3"),
            acq, rc=0)
    assert not part.exists() and not staging.exists() and live.exists()


def test_a_folder_holding_only_a_dead_temporary_is_no_result(acq, tmp_path, capsys):
    out = tmp_path / "res"
    part = stale_part(out, "phase.tif")
    run_cli(capsys, _retrieve(acq, out, "--window-px", "9", "--search-px", "3"), acq, rc=0)
    assert not part.exists() and sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
