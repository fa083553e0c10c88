"""Fuzzing the readers: damaged copies of valid files either load or raise SpecktrackError.

Each reader gets seed files (small valid ones this package writes, and the shipped generator)
and damaged copies of them: bytes replaced (half of them in the first 512 bytes, where the
headers are), the file cut short, a chunk deleted or repeated, a value of a JSON file
replaced. Every case runs in a forked child with a time and memory limit, so a hang or a
crash of a C library is counted instead of ending the run. A case is

* ``loaded``  — the reader returned data that keeps its contract (an image is ≥ 2-D and
  not empty, a generator is finite), or
* ``refused`` — it raised :class:`~napari_specktrack.errors.SpecktrackError`, or
* ``crashed`` — anything else: another exception, a broken contract, a signal, a timeout.

The first crashing input of each reader is saved for reproduction (with the error beside it).

    python benchmarks/fuzz_readers.py [--n 1000] [--readers tiff hdf5 ...] [--seed 0] [--out DIR]

tests/test_fuzz_readers.py runs the same targets with hypothesis on ~50 cases.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: bytes a "header" flip lands in (TIFF IFDs, the HDF5 superblock, the safetensors header)
HEADER_BYTES = 512
#: per-case limits of the forked child
TIMEOUT_S = 20
MEMORY_BYTES = 3 << 30

Op = tuple[str, int, int]  # (kind, position, value or length)


# --- mutations ---------------------------------------------------------------------------------
def mutate(data: bytes, ops: Sequence[Op]) -> bytes:
    """Apply byte-level ``ops`` to ``data``: ``("flip", pos, byte)``, ``("truncate", pos, 0)``,
    ``("delete", pos, n)``, ``("repeat", pos, n)``; positions wrap around the length."""
    buf = bytearray(data)
    for kind, pos, value in ops:
        if not buf:
            break
        pos %= len(buf)
        if kind == "flip":
            buf[pos] = value % 256
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "delete":
            del buf[pos:pos + max(1, value)]
        elif kind == "repeat":
            buf[pos:pos] = buf[pos:pos + max(1, value)]
        else:
            raise ValueError(f"unknown mutation {kind!r}")
    return bytes(buf)


def random_ops(rng: np.random.Generator, size: int, header_only: bool = False) -> list[Op]:
    """1–8 random mutations of a file of ``size`` bytes (half of them in the header)."""
    ops: list[Op] = []
    for _ in range(int(rng.integers(1, 9))):
        in_header = header_only or rng.random() < 0.5
        pos = int(rng.integers(0, max(1, min(size, HEADER_BYTES) if in_header else size)))
        kind = "flip" if header_only else str(rng.choice(["flip"] * 6 + ["truncate", "delete",
                                                                           "repeat"]))
        value = int(rng.integers(0, 256)) if kind == "flip" else int(rng.integers(1, 64))
        ops.append((kind, pos, value))
    return ops


#: values a JSON mutation puts in place of another
ODD_VALUES: list[Any] = [None, True, -1, 0, 1e308, -1e-308, float("nan"), "x", "../../x", [],
                         {}, [1, 2, 3], {"a": 1}, 10**30, "", 600.0, 3.25]


def mutate_json(obj: Any, rng: np.random.Generator, n: int = 1) -> Any:
    """``obj`` with ``n`` values (or keys) deep inside it replaced or removed."""
    obj = json.loads(json.dumps(obj))
    for _ in range(n):
        parent, key, node = None, None, obj
        while isinstance(node, (dict, list)) and node and rng.random() < 0.7:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, keys[int(rng.integers(0, len(keys)))]
            node = node[key]
        if parent is None:
            return ODD_VALUES[int(rng.integers(0, len(ODD_VALUES)))]
        if rng.random() < 0.2:
            del parent[key]
        else:
            parent[key] = ODD_VALUES[int(rng.integers(0, len(ODD_VALUES)))]
    return obj


# --- the targets ---------------------------------------------------------------------------------
@dataclass
class Target:
    """One reader: its seed files, how a case is made from a seed, and the load to try."""

    name: str
    seeds: Callable[[Path], list[Path]]  #: write the valid seed files into a folder
    load: Callable[[Path], None]  #: read a case; raises on refusal or a broken contract
    header_only: bool = False  #: byte flips only in the header (large seeds)
    folder: bool = False  #: cases are folders (a pair folder)


def _tiff_seeds(d: Path) -> list[Path]:
    import tifffile

    from napari_specktrack.geometry import Geometry
    from napari_specktrack.io import write_tiff

    rng = np.random.default_rng(0)
    image = rng.random((32, 32), dtype=np.float32) + 0.5
    write_tiff(d / "image.tif", image, metadata={"geometry": Geometry().to_dict(), "unit": "rad"})
    tifffile.imwrite(d / "stack.tif", (rng.random((3, 24, 32)) * 4000).astype(np.uint16),
                     photometric="minisblack")
    tifffile.imwrite(d / "tiled.tif", image, tile=(16, 16), photometric="minisblack")
    seeds = [d / "image.tif", d / "stack.tif", d / "tiled.tif"]
    try:
        tifffile.imwrite(d / "zlib.tif", (image * 1000).astype(np.uint16), compression="zlib",
                         photometric="minisblack")
        seeds.append(d / "zlib.tif")
    except Exception:  # no codec for it here
        pass
    return seeds


def _check_image(data: Any, what: str) -> None:
    shape = np.shape(data)
    if len(shape) < 2 or 0 in shape:
        raise AssertionError(f"{what} returned an empty or 1-D array {shape}")
    np.asarray(data).sum()  # every pixel readable (a memmap is touched)


def _load_tiff(path: Path) -> None:
    from napari_specktrack.io import read_tiff

    _check_image(read_tiff(path), "read_tiff")
    _check_image(read_tiff(path, memmap=True), "read_tiff(memmap=True)")


def _load_tiff_metadata(path: Path) -> None:
    from napari_specktrack.io import read_tiff_metadata

    if not isinstance(read_tiff_metadata(path), dict):
        raise AssertionError("read_tiff_metadata returned no dict")


def _load_napari(path: Path) -> None:
    from napari_specktrack import _reader

    reader = _reader.napari_get_reader(str(path))
    if reader is None:
        return
    for data, kwargs, kind in reader(str(path)):
        _check_image(data, "the napari reader")
        if kind != "image" or not isinstance(kwargs.get("metadata"), dict):
            raise AssertionError(f"the napari reader returned {kind!r} {sorted(kwargs)}")


def _hdf5_seeds(d: Path) -> list[Path]:
    import h5py

    rng = np.random.default_rng(1)
    with h5py.File(d / "scan.nxs", "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("data/data", data=(rng.random((3, 24, 32)) * 4000).astype(np.uint16),
                             chunks=(1, 24, 32), compression="gzip")
        f.create_dataset("dark", data=rng.random((24, 32)).astype(np.float32))
    with h5py.File(d / "plain.h5", "w") as f:
        f.create_dataset("image", data=rng.random((32, 32)).astype(np.float32))
    return [d / "scan.nxs", d / "plain.h5"]


def _load_hdf5(path: Path) -> None:
    from napari_specktrack._reader import hdf5_datasets, read_hdf5

    for name, _shape, _dtype in hdf5_datasets(path)[:2]:
        _check_image(read_hdf5(path, name)[0], f"read_hdf5({name})")
    _load_napari(path)


def _geometry_seeds(d: Path) -> list[Path]:
    from napari_specktrack.geometry import Geometry

    Geometry().to_json(d / "geometry.json")
    Geometry(energy_keV=20.0, pixel_size_m=6.5e-6, distance_m=1.0).to_json(d / "other.json")
    return [d / "geometry.json", d / "other.json"]


def _load_geometry(path: Path) -> None:
    from napari_specktrack.geometry import Geometry

    g = Geometry.from_json(path)
    if not (np.isfinite(g.phase_gradient_per_shift) and g.phase_gradient_per_shift > 0):
        raise AssertionError(f"{g} has no finite phase gradient")


def _safetensors_seeds(d: Path) -> list[Path]:
    from napari_specktrack.learn.inference import PRETRAINED

    return [Path(shutil.copy(PRETRAINED, d / "lite.safetensors"))]


def _tiny_generator_state():
    import torch

    from napari_specktrack.learn.networks import GeneratorConfig, GlobalGenerator

    torch.manual_seed(0)
    return GlobalGenerator(GeneratorConfig(ngf=4, n_downsampling=1, n_blocks=1)).state_dict()


def _checkpoint_seeds(d: Path) -> list[Path]:
    import torch

    meta = {"normalisation": {"input_scale": 0.4, "target_min": 0.6, "target_max": 1.2}}
    state = _tiny_generator_state()
    torch.save({"generator": state, "generator_ema": state, "meta": meta, "step": 3},
               d / "checkpoint.pt")
    torch.save(state, d / "latest_net_G.pth")
    return [d / "checkpoint.pt", d / "latest_net_G.pth"]


def _load_generator(path: Path) -> None:
    import torch

    from napari_specktrack.learn.inference import load_generator

    model, _meta = load_generator(path, "cpu")
    if not all(bool(torch.isfinite(p).all()) for p in model.state_dict().values()
               if p.is_floating_point()):
        raise AssertionError("load_generator accepted non-finite weights")


def _pairs_seeds(d: Path) -> list[Path]:
    from napari_specktrack.geometry import Geometry
    from napari_specktrack.learn.pairs import write_pairs

    rng = np.random.default_rng(2)
    imgs = [rng.random((16, 16), dtype=np.float32) for _ in range(6)]
    recs = [{"name": "p0", "frame": 0, "crop_yx_px": [0, 0, 16, 16]},
            {"name": "p1", "frame": 1, "split": "validation"}]
    write_pairs(d / "pairs", imgs[:2], imgs[2:4], recs, Geometry(), references=imgs[4:],
                normalisation={"input_scale": 0.5, "target_min": 0.0, "target_max": 1.0})
    return [d / "pairs"]


def _load_pairs(path: Path) -> None:
    from napari_specktrack.learn.pairs import read_pairs

    folder = read_pairs(path)
    for i in range(len(folder)):
        inp, tgt = folder.load(i)
        ref = folder.load_reference(i)
        for a in (inp, tgt) + ((ref,) if ref is not None else ()):
            _check_image(a, "read_pairs")
            if not np.isfinite(a).all():
                raise AssertionError("read_pairs loaded non-finite pixels")


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("tiff", _tiff_seeds, _load_tiff),
    Target("tiff_metadata", _tiff_seeds, _load_tiff_metadata),
    Target("napari_tiff", _tiff_seeds, _load_napari),
    Target("hdf5", _hdf5_seeds, _load_hdf5),
    Target("geometry_json", _geometry_seeds, _load_geometry),
    Target("safetensors", _safetensors_seeds, _load_generator, header_only=True),
    Target("checkpoint", _checkpoint_seeds, _load_generator),
    Target("pairs", _pairs_seeds, _load_pairs, folder=True),
)}


# --- making and running a case -------------------------------------------------------------------
def make_case(target: Target, seed: Path, work: Path, rng: np.random.Generator,
              ops: Sequence[Op] | None = None) -> Path:
    """A damaged copy of ``seed`` in ``work`` (``ops``: the byte mutations; default random)."""
    if target.folder:
        case = work / seed.name
        shutil.copytree(seed, case)
        files = sorted(p for p in case.rglob("*") if p.is_file())
        index = case / "pairs.json"
        victim = index if rng.random() < 0.5 else files[int(rng.integers(0, len(files)))]
        if rng.random() < 0.1:
            victim.unlink()
        elif victim.suffix == ".json" and rng.random() < 0.6:
            victim.write_text(json.dumps(mutate_json(json.loads(victim.read_text()), rng,
                                                     int(rng.integers(1, 4)))))
        else:
            data = victim.read_bytes()
            victim.write_bytes(mutate(data, ops or random_ops(rng, len(data))))
        return case
    data = seed.read_bytes()
    if seed.suffix == ".json" and ops is None and rng.random() < 0.5:
        out = json.dumps(mutate_json(json.loads(data), rng, int(rng.integers(1, 3)))).encode()
    elif target.header_only and ops is None and rng.random() < 0.3:
        out = data[:int(rng.integers(0, len(data)))]  # truncated
    else:
        out = mutate(data, ops if ops is not None else random_ops(rng, len(data), target.header_only))
    case = work / seed.name
    case.write_bytes(out)
    return case


def classify(load: Callable[[Path], None], path: Path) -> tuple[str, str]:
    """("loaded" | "refused" | "crashed", detail) of one load, in this process."""
    from napari_specktrack.errors import SpecktrackError

    try:
        load(path)
    except SpecktrackError as exc:
        return "refused", str(exc)[:300]
    except Exception as exc:
        return "crashed", f"{type(exc).__name__}: {str(exc)[:300]}"
    return "loaded", ""


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def run_isolated(load: Callable[[Path], None], path: Path, timeout_s: int = TIMEOUT_S
                 ) -> tuple[str, str]:
    """:func:`classify` in a forked child with a time and an address-space limit; a child that
    dies (a signal, the timeout) is "crashed". Runs in-process where fork is missing."""
    if not hasattr(os, "fork"):
        return classify(load, path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        try:
            import resource

            limit = _vm_bytes() + MEMORY_BYTES
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            signal.alarm(timeout_s)
            result = classify(load, path)
        except BaseException as exc:  # the child reports whatever happened
            result = ("crashed", f"{type(exc).__name__}: {exc}"[:300])
        os.write(w, json.dumps(result).encode()[:60000])
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        what = "timeout" if sig == signal.SIGALRM else f"signal {sig}"
        return "crashed", f"the reader died ({what}, status {status})"
    kind, detail = json.loads(b"".join(chunks))
    return kind, detail


# --- the benchmark ---------------------------------------------------------------------------------
def fuzz(name: str, n: int, seed: int, out: Path) -> dict[str, Any]:
    """Run ``n`` cases of reader ``name``; save the first crash to ``out``."""
    target = TARGETS[name]
    counts = {"loaded": 0, "refused": 0, "crashed": 0}
    first = None
    rng = np.random.default_rng([seed, sum(name.encode())])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        seeds = target.seeds(Path(tmp))
        for s in seeds:  # every seed loads; this also imports the reader before the forks
            kind, detail = classify(target.load, s)
            if kind != "loaded":
                raise RuntimeError(f"the seed {s.name} of {name} does not load: {detail}")
        for i in range(n):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            case = make_case(target, seeds[i % len(seeds)], work, rng)
            kind, detail = run_isolated(target.load, case)
            counts[kind] += 1
            if kind == "crashed" and first is None:
                out.mkdir(parents=True, exist_ok=True)
                saved = out / f"{name}-{i}{'' if target.folder else case.suffix}"
                shutil.rmtree(saved, ignore_errors=True)
                (shutil.copytree if target.folder else shutil.copy)(case, saved)
                Path(f"{saved}.error.txt").write_text(detail + "\n")
                first = (str(saved), detail)
            shutil.rmtree(work)
    return {"reader": name, **counts, "seconds": time.perf_counter() - t0, "first_crash": first}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="cases per reader (default 1000)")
    parser.add_argument("--readers", nargs="+", choices=sorted(TARGETS), default=list(TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-crashes"),
                        help="folder for the first crashing input of each reader")
    args = parser.parse_args(argv)
    print("| reader | cases | loaded | refused | crashed | s/case |\n|---|---|---|---|---|---|")
    rows = []
    for name in args.readers:
        row = fuzz(name, args.n, args.seed, args.out)
        rows.append(row)
        print(f"| {name} | {args.n} | {row['loaded']} | {row['refused']} | {row['crashed']} | "
              f"{row['seconds'] / args.n:.3f} |", flush=True)
    for row in rows:
        if row["first_crash"]:
            print(f"first crash of {row['reader']}: {row['first_crash'][0]}: "
                  f"{row['first_crash'][1]}")
    return 1 if any(r["crashed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
