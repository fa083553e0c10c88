"""Where the user's settings live: one folder for the docks' settings and the model list.

``$SPECKTRACK_CONFIG_DIR`` when set (tests point it at a temporary folder), else the
platform's user configuration folder (``platformdirs.user_config_dir("napari-specktrack")``,
e.g. ``~/.config/napari-specktrack`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPECKTRACK_CONFIG_DIR"


def config_dir() -> Path:
    """The user configuration folder of napari-specktrack (not created here)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("napari-specktrack"))
