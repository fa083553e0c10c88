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


BLOCK_GUI = """
import importlib.abc, sys
GUI = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "superqt", "vispy")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in GUI:
            raise ImportError(f"{name} is blocked: the core must run without a GUI stack")
sys.meta_path.insert(0, Block())
"""


def test_core_and_cli_run_with_the_gui_stack_blocked(tmp_path):
    """A cluster worker or headless server installs no Qt: simulate → retrieve → generate."""
    sim, res = tmp_path / "sim", tmp_path / "res"
    code = BLOCK_GUI + f"""
from napari_specktrack.cli import build_parser, main
build_parser().format_help()
assert main(["simulate", "--phantom", "smooth", "--size", "64", "--out", r"{sim}"]) == 0
assert main(["retrieve", "--reference", r"{sim}/reference.tif", "--sample", r"{sim}/sample.tif",
             "--generator", "pretrained", "--generator-device", "cpu", "--window-px", "9",
             "--search-px", "3", "--out", r"{res}"]) == 0
import napari_specktrack.pipeline, napari_specktrack.learn.train, napari_specktrack.physics.profiles
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
    assert (res / "phase.tif").is_file() and (res / "inline_generated.tif").is_file()


def test_core_dependencies_hold_no_gui_package():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("[")[0].split("=")[0].strip().lower() for d in project["dependencies"]}
    assert not names & {"napari", "qtpy", "magicgui", "superqt", "pyqt5", "pyqt6", "pyside6", "npe2"}
    assert any(d.startswith("napari[all]") for d in project["optional-dependencies"]["gui"])
    assert project["optional-dependencies"]["all"] == ["napari-specktrack[gui]"]


def test_demo_without_a_display_says_so_in_one_line(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = ""
    out = subprocess.run([sys.executable, "-m", "napari_specktrack.cli", "demo"], env=env,
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "xvfb-run" in lines[0]


def test_readme_apt_line_is_what_ci_installs():
    """The README's apt-get line names every Debian package CI needs for the GUI tests."""
    import re

    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("sudo apt-get install "))
    readme_pkgs = set(line.split()[3:])
    ci = (ROOT / ".ci" / "run").read_text()
    ci_pkgs = set(re.search(r'pkgs="([^"]+)"', ci).group(1).split())
    assert readme_pkgs == ci_pkgs
