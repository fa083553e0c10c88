"""The ``spheres-varied`` phantom: feature sizes independent of the frame (docs/generator-size.md).

Statistics over fixed seeds (so the test is deterministic); every size in pixels.
"""

import json
import math

import numpy as np
import pytest

from napari_specktrack.simulate.phantoms import (
    VARIED_COVERAGE_RANGE,
    VARIED_GAP_PX,
    VARIED_RADIUS_RANGE_PX,
    VARIED_TUBE_OUTER_FRACTION,
    VARIED_TUBE_WALL_PX,
    spheres_phantom,
    spheres_varied_phantom,
)

SEEDS = range(150)
ROUND_PX = 2e-3  # the phantom dict rounds positions and radii to 1e-3 px


def _draw(size_px, seed):
    return spheres_varied_phantom(size_px, np.random.default_rng(seed))


def _parts(phantom):
    tubes = [o for o in phantom["objects"] if o["shape"] == "tube"]
    spheres = [o for o in phantom["objects"] if o["shape"] == "sphere"]
    assert len(tubes) <= 1 and len(tubes) + len(spheres) == len(phantom["objects"])
    return (tubes[0] if tubes else None), spheres


@pytest.fixture(scope="module")
def draws():
    """{side_px: [phantom of each seed]} at 128² and 512²."""
    return {n: [_draw(n, s) for s in SEEDS] for n in (128, 512)}


def test_deterministic_per_seed():
    for n in (128, 256):
        assert _draw(n, 11) == _draw(n, 11)
        assert _draw(n, 11) != _draw(n, 12)
    d = _draw(200, 3)
    assert d["name"] == "spheres-varied" and d["medium"] == "air"
    assert json.loads(json.dumps(d)) == d  # plain JSON: phantom.json holds it unchanged


def test_radii_in_range_and_not_scaled_with_the_side(draws):
    r_min, r_max = VARIED_RADIUS_RANGE_PX
    radii = {}
    for n, phantoms in draws.items():
        radii[n] = np.array([s["radius_px"] for p in phantoms for s in _parts(p)[1]])
        assert radii[n].min() >= r_min - ROUND_PX
        assert radii[n].max() <= min(r_max, 0.45 * n) + ROUND_PX
    # the old phantom scales radii as 0.07–0.17 × side: its 512² spheres are 36–87 px, its
    # 128² ones 9–22 px, a ratio of medians of 0.25; here the radii come from one distribution
    old = [s["radius_px"] for s in _parts(spheres_phantom(512, np.random.default_rng(0)))[1]]
    assert min(old) >= 0.07 * 512 - ROUND_PX
    ratio = np.median(radii[128]) / np.median(radii[512])
    assert 0.6 < ratio < 1.4, ratio  # measured 0.76 (28.7 / 37.9 px)
    for n in (128, 512):  # log-uniform 8–160 px puts 23 % under 16 px at every side
        assert np.mean(radii[n] < 16.0) > 0.15, n
    assert radii[512].max() > 120.0  # far above the old 0.17 × 512 = 87 px
    assert np.mean(radii[512] > 0.17 * 512) > 0.15  # measured 0.3


def _coverage(spheres, n):
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    mask = np.zeros((n, n), bool)
    for s in spheres:
        (y, x), r = s["center_yx_px"], s["radius_px"]
        mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    return float(mask.mean())


def test_coverage_in_range(draws):
    lo, hi = VARIED_COVERAGE_RANGE
    for n, phantoms in draws.items():
        for seed, p in zip(SEEDS, phantoms, strict=True):
            spheres = _parts(p)[1]
            assert spheres, (n, seed)
            assert lo <= p["coverage_target"] <= hi
            cover = _coverage(spheres, n)
            assert abs(cover - p["coverage"]) < 2e-3, (n, seed)  # the dict's figure is right
            # at least the target (the frame never filled up here), at most 40 % plus one
            # smallest (8 px) disc
            assert p["coverage_target"] - 1e-3 <= cover <= hi + math.pi * 8.0**2 / n**2, (n, seed)
    targets = [p["coverage_target"] for p in draws[512]]
    assert min(targets) < 0.15 and max(targets) > 0.35  # the whole 10–40 % range is drawn


def test_tube_present_in_two_thirds_with_its_ranges():
    present = 0
    centres = []
    for seed in range(300):
        n = (128, 256)[seed % 2]
        tube, _ = _parts(_draw(n, seed))
        if tube is None:
            continue
        present += 1
        assert tube["axis"] == "y" and tube["material"] == "PE"
        outer, inner = tube["outer_radius_px"], tube["inner_radius_px"]
        assert VARIED_TUBE_OUTER_FRACTION[0] * n - ROUND_PX <= outer
        assert outer <= VARIED_TUBE_OUTER_FRACTION[1] * n + ROUND_PX
        wall = outer - inner
        # 5–40 px, but never more than half the outer radius (small frames)
        thickest = min(VARIED_TUBE_WALL_PX[1], 0.5 * outer)
        assert VARIED_TUBE_WALL_PX[0] - ROUND_PX <= wall <= thickest + ROUND_PX
        assert 0.0 <= tube["center_x_px"] <= n - 1
        centres.append(tube["center_x_px"] / (n - 1))
    assert 0.58 <= present / 300 <= 0.76, present  # binomial: 200 ± 8 expected
    thirds = np.histogram(centres, bins=3, range=(0.0, 1.0))[0]
    assert thirds.min() > 0.2 * len(centres)  # the axis lies anywhere, not only in the middle


def test_spheres_inside_the_frame_apart_in_3d_and_clear_of_the_wall(draws):
    in_bore = outside = 0
    for n, phantoms in draws.items():
        for p in phantoms:
            tube, spheres = _parts(p)
            pos = [(*s["center_yx_px"], s["center_z_px"], s["radius_px"]) for s in spheres]
            for y, x, _, r in pos:
                assert r - ROUND_PX <= y <= n - 1 - r + ROUND_PX
                assert r - ROUND_PX <= x <= n - 1 - r + ROUND_PX
            for i, (y, x, z, r) in enumerate(pos):
                for y2, x2, z2, r2 in pos[:i]:
                    d = math.sqrt((y - y2) ** 2 + (x - x2) ** 2 + (z - z2) ** 2)
                    assert d >= r + r2 + VARIED_GAP_PX - ROUND_PX
            if tube is None:
                continue
            for _, x, z, r in pos:
                rho = math.hypot(x - tube["center_x_px"], z)  # distance from the tube axis
                if rho + r <= tube["inner_radius_px"] + ROUND_PX:
                    in_bore += 1
                else:
                    assert rho - r >= tube["outer_radius_px"] - ROUND_PX
                    outside += 1
    assert in_bore > outside > 0  # in the bore where they fit, outside the tube else


def test_simulate_cli_writes_the_phantom(tmp_path):
    from napari_specktrack.cli import main
    from napari_specktrack.io import read_tiff
    from napari_specktrack.simulate import simulate

    out = tmp_path / "acq"
    assert main(["simulate", "--phantom", "spheres-varied", "--size", "128", "--seed", "3",
                 "--out", str(out)]) == 0
    phantom = json.loads((out / "phantom.json").read_text())
    assert phantom["name"] == "spheres-varied"
    assert phantom == json.loads(json.dumps(simulate("spheres-varied", 128, seed=3).phantom))
    phase = read_tiff(out / "truth_phase.tif")
    assert phase.shape == (128, 128) and np.isfinite(phase).all() and np.abs(phase).max() > 1.0


def test_pairs_of_two_sizes_in_one_folder(tmp_path, capsys):
    from napari_specktrack.cli import main
    from napari_specktrack.errors import InputError
    from napari_specktrack.learn._train_checks import check_crop, pair_shapes
    from napari_specktrack.learn.pairs import read_pairs

    out = tmp_path / "pairs"
    args = ["simulate", "--pairs", "2", "--phantom", "spheres-varied", "foam", "--out", str(out)]
    assert main([*args, "--size", "128"]) == 0
    assert "holds pairs of" not in capsys.readouterr().out
    assert main([*args, "--size", "192", "--seed", "2", "--append"]) == 0
    said = capsys.readouterr().out
    assert "holds pairs of 2 sizes: 128×128 px (2), 192×192 px (2)" in said
    assert "frames smaller than its --crop whole (a crop of 128 128 or less cuts every frame)" in said
    folder = read_pairs(out)
    shapes = pair_shapes(folder)
    assert folder.names == ["spheres-varied_00000", "foam_00001", "spheres-varied_00002",
                            "foam_00003"]
    assert shapes == [(128, 128), (128, 128), (192, 192), (192, 192)]
    assert [r["source"]["size_px"] for r in folder.records] == [128, 128, 192, 192]
    # the same seeds again are refused whatever the size (the names would repeat)
    assert main([*args, "--size", "192", "--append"]) == 2
    # training: a pair smaller than the crop is used whole when its sides are multiples of the
    # generator's 2^n_downsampling (8 for lite), else refused naming the fix
    check_crop(folder, shapes, (128, 128), 8)
    check_crop(folder, shapes, (192, 192), 8)
    with pytest.raises(InputError, match=r"--crop 192 192 is larger than pair 'spheres-varied_00000' "
                                         r"\(128×128 px\), whose sides are not multiples of 48"):
        check_crop(folder, shapes, (192, 192), 48)
    from napari_specktrack.learn.pairs import PairDataset, compute_normalisation

    data = PairDataset(folder, compute_normalisation(folder), crop_yx_px=(192, 192), seed=1)
    sizes = {tuple(data[i][0].shape) for i in range(len(data))}
    assert sizes == {(1, 128, 128), (1, 192, 192)}  # the 128² frames whole, no padding
