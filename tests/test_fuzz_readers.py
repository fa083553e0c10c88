"""Fuzzing the readers (issue 11): damaged copies of valid TIFF, HDF5, geometry JSON,
safetensors, checkpoint and pair-folder files either load (keeping the reader's contract: a
non-empty image, finite weights) or raise SpecktrackError — never anything else.

About 55 fixed cases (hypothesis, derandomized); ``benchmarks/fuzz_readers.py`` runs the same
targets 1000 times each. Every case runs in a forked child with a time and memory limit."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "fuzz_readers", Path(__file__).parents[1] / "benchmarks" / "fuzz_readers.py")
fz = sys.modules.setdefault("fuzz_readers", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(fz)


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """The seed files of every target, written once (and each checked to load)."""
    made = {}
    for name, target in fz.TARGETS.items():
        folder = tmp_path_factory.mktemp(name)
        made[name] = target.seeds(folder)
        for s in made[name]:
            assert fz.classify(target.load, s) == ("loaded", ""), (name, s)
    return made


#: byte mutations: mostly single bytes replaced, half of them in the first 512 bytes
positions = st.one_of(st.integers(0, fz.HEADER_BYTES - 1), st.integers(0, 1 << 20))
ops = st.lists(st.tuples(st.sampled_from(["flip"] * 4 + ["truncate", "delete", "repeat"]),
                         positions, st.integers(0, 255)), min_size=1, max_size=8)


def _check(name: str, seed: Path, case_ops=None, rng_seed: int = 0) -> None:
    target = fz.TARGETS[name]
    with tempfile.TemporaryDirectory() as work:
        case = fz.make_case(target, seed, Path(work), np.random.default_rng(rng_seed), case_ops)
        kind, detail = fz.run_isolated(target.load, case)
        assert kind in ("loaded", "refused"), f"{name}: {detail}"


@pytest.mark.parametrize("name, n", [("tiff", 10), ("tiff_metadata", 5), ("napari_tiff", 6),
                                     ("hdf5", 8), ("checkpoint", 5)])
def test_byte_damage(seeds, name, n):
    @_settings(n)
    @given(index=st.integers(0, 7), case_ops=ops)
    def run(index, case_ops):
        _check(name, seeds[name][index % len(seeds[name])], case_ops)

    run()


@_settings(4)
@given(cut=st.one_of(st.integers(0, 64), st.integers(0, 12 << 20)),
       flips=st.lists(st.tuples(st.just("flip"), st.integers(0, fz.HEADER_BYTES - 1),
                                st.integers(0, 255)), min_size=0, max_size=4))
def test_the_shipped_generator_damaged(seeds, cut, flips):
    """Truncations and header byte flips of lite.safetensors (cheap: no full-file rewrites)."""
    case_ops = [*flips, ("truncate", cut, 0)] if cut else flips or [("flip", 8, 0)]
    _check("safetensors", seeds["safetensors"][0], case_ops)


@_settings(5)
@given(case_ops=ops, index=st.integers(0, 1))
def test_geometry_json_bytes(seeds, case_ops, index):
    _check("geometry_json", seeds["geometry_json"][index], case_ops)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3), max_leaves=8)
geometry_keys = st.sampled_from(["energy_keV", "pixel_size_m", "distance_m", "source_distance_m",
                                 "source_size_m"])


@_settings(6)
@given(values=st.dictionaries(geometry_keys, json_values | st.floats(1e-12, 1e6), max_size=5),
       extra=st.dictionaries(st.text(max_size=6), json_values, max_size=1))
def test_geometry_json_structure(values, extra):
    import json

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "geometry.json"
        path.write_text(json.dumps({**values, **extra}))
        kind, detail = fz.classify(fz.TARGETS["geometry_json"].load, path)
        assert kind in ("loaded", "refused"), detail


@_settings(6)
@given(rng_seed=st.integers(0, 2**32 - 1))
def test_pair_folders(seeds, rng_seed):
    """A pair folder with pairs.json edited or damaged, an image damaged, or a file missing."""
    _check("pairs", seeds["pairs"][0], rng_seed=rng_seed)


def test_the_mutations_do_what_they_say():
    data = bytes(range(10))
    assert fz.mutate(data, [("flip", 3, 255)])[3] == 255
    assert fz.mutate(data, [("truncate", 4, 0)]) == data[:4]
    assert fz.mutate(data, [("delete", 2, 3)]) == data[:2] + data[5:]
    assert fz.mutate(data, [("repeat", 8, 2)]) == data[:8] + data[8:] + data[8:]
    assert fz.mutate(data, [("flip", 13, 7)])[3] == 7  # positions wrap around
