"""The npe2 manifest is valid and found through the installed package; the CLI is wired."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_validates():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("napari-specktrack")
    assert manifest.display_name
    keys = {s.key for s in manifest.contributions.sample_data}
    assert {"spheres", "foam"} <= keys
    npe2.PluginManifest.from_file(ROOT / "napari.yaml")  # the root copy parses too


def test_packaged_manifest_is_the_root_manifest():
    packaged = ROOT / "src" / "napari_specktrack" / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()


def test_importing_the_package_does_not_import_torch_or_qt():
    code = (
        "import sys, napari_specktrack, napari_specktrack.cli;"
        "bad = [m for m in ('torch', 'qtpy', 'PyQt6', 'napari') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_help_lists_the_commands():
    from napari_specktrack.cli import COMMANDS, build_parser

    help_text = build_parser().format_help()
    for name in ("demo", "simulate"):
        assert name in COMMANDS and name in help_text


@pytest.mark.slow
def test_built_wheel_ships_the_manifest(tmp_path):
    """npe2 finds the manifest inside the package: the wheel must carry napari.yaml as a file."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("napari_specktrack-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        manifest = zf.read("napari_specktrack/napari.yaml").decode()
        entry_points = zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt")))
    assert manifest == (ROOT / "napari.yaml").read_text()
    assert b"napari_specktrack:napari.yaml" in entry_points
    assert b"specktrack = napari_specktrack.cli:main" in entry_points
