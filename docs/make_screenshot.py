"""Write docs/screenshot.png: the demo on a 1920 × 1080 screen after Retrieve was clicked.

Run from the repository root (on a headless machine pytest-xvfb provides the screen)::

    python docs/make_screenshot.py

The picture is taken by the GUI test that checks the first five minutes
(tests/test_demo_screen.py: the window fits the screen, nothing is clipped, the phase is
shown), so the README shows exactly what that test saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    env = {**os.environ, "SPECKTRACK_SCREENSHOT": str(HERE / "screenshot.png")}
    test = HERE.parent / "tests" / "test_demo_screen.py"
    return subprocess.call([sys.executable, "-m", "pytest", "-q", str(test)], env=env)


if __name__ == "__main__":
    sys.exit(main())
