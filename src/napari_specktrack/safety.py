"""One safety policy for every file this package writes: nothing lost, nothing half-written.

Every command, widget and API entry that writes results goes through this module:

* **Never overwrite.** An :class:`OutputSet` is planned *before* any computing. An existing
  result (a non-empty output folder, or an output file) is refused with a message naming
  ``--overwrite``; with ``overwrite=True`` the new set is written beside the old one in a
  hidden staging folder and swapped into place whole on :meth:`OutputSet.commit`, so no mix
  of old and new files ever remains and a crash leaves the old set untouched.
* **Inputs are never written.** Every output path is resolved and compared with every input
  (and, when a folder is replaced, no input may lie inside it) before anything is computed.
* **Atomic and readable.** Single files are written to a temporary name in their own folder
  and renamed into place (:func:`atomic_write`); files and folders get the permissions the
  process umask gives (``0o666 & ~umask``), as ``open()`` would, not ``mkstemp``'s 0600.
* **Stale temporaries are cleaned.** Temporary names carry the writer's process id;
  :func:`clean_stale` removes those whose process is gone (a SIGKILL mid-write) and restores
  a result set that a crash left moved aside.
* **Writable, checked first.** The nearest existing folder of an output must be writable.

Errors are :class:`~napari_specktrack.errors.OutputError` with one line naming the path and
the fix.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .errors import OutputError

PathLike = str | os.PathLike

_PART_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.part$")
_PART_DIR = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|replaced)-(?P<pid>\d+)-[0-9a-f]{8}$")


# --- permissions -------------------------------------------------------------------------------
def current_umask() -> int:
    """The process umask, read without changing it (Linux: /proc; elsewhere set and restore)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permission bits of a new file under the current umask (0o644 for umask 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Permission bits of a new folder under the current umask (0o755 for umask 022)."""
    return 0o777 & ~current_umask()


# --- single files ------------------------------------------------------------------------------
def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")


def atomic_write(path: PathLike, write: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file beside it, which is
    synced, given the umask's permissions and renamed into place. On any error the temporary
    file is removed and ``path`` is unchanged."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


# --- stale temporaries ---------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(folder: PathLike) -> list[Path]:
    """Remove the temporaries in ``folder`` whose writing process has died; returns them.

    A staging folder of a dead process is deleted; a result set it had moved aside
    (``.NAME.replaced-…``) is moved back when ``NAME`` is missing (the crash fell between the
    two renames of a swap), else deleted.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _PART_FILE.match(entry.name) or _PART_DIR.match(entry.name)
        if m is None or _alive(int(m["pid"])):
            continue
        original = folder / m["name"]
        if m.groupdict().get("kind") == "replaced" and not original.exists():
            os.replace(entry, original)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


# --- checks ---------------------------------------------------------------------------------------
def _resolved(paths: Iterable[PathLike | None]) -> list[Path]:
    return [Path(p).expanduser().resolve() for p in paths if p is not None and str(p) != ""]


def check_writable(path: PathLike, flag: str = "--out") -> None:
    """Raise unless ``path`` can be created: a valid name whose nearest existing ancestor is a
    writable folder."""
    if "\0" in str(path):
        raise OutputError(f"{flag} {str(path)!r} contains a NUL character; give a valid path")
    p = Path(path).expanduser().resolve()
    long = [part for part in p.parts if len(os.fsencode(part)) > 255]
    if long:
        raise OutputError(f"{flag} {path}: the name {long[0][:40]}… is longer than 255 bytes, more "
                          f"than file systems allow; choose a shorter name")
    ancestor = p.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{flag} {path}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {path}: the folder {ancestor} is not writable; choose a folder "
                          f"you can write to")


def check_not_input(path: PathLike, inputs: Iterable[PathLike | None], flag: str = "--out") -> None:
    """Refuse to write ``path`` if it is one of ``inputs`` (inputs are never overwritten)."""
    target = Path(path).expanduser().resolve()
    for item in _resolved(inputs):
        if item == target:
            raise OutputError(f"refusing to overwrite the input file {item} ({flag}); choose "
                              f"another output path")


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:4]) + (" …" if len(names) > 4 else "")


class OutputSet:
    """The files one command writes, planned and checked before any computing.

    Parameters
    ----------
    target
        The output folder (``files=None``) or, for single-file outputs, the main file; with
        ``files`` the names are written beside it (e.g. ``SLICES.tif`` and ``SLICES.json``).
    inputs
        Every file the command reads: none may be written, and none may lie inside a folder
        that ``overwrite`` would replace.
    overwrite
        Replace an existing result whole instead of refusing.
    files
        For a file output: the file names (in ``target``'s folder) that make up the set.
    flag
        The option that named ``target``, for messages (``--out``).
    hint
        Extra advice for a refused existing result (e.g. ``"--resume to continue it"``).
    known
        For a folder: the names a result of this command holds. With ``overwrite`` a folder
        that holds anything else is refused instead of replaced — it is not (only) an earlier
        result, and replacing it whole would delete those files (``--out .`` or a data folder).
        ``None``: no such check.

    Use as a context manager: files go to :meth:`path`; leaving the block without an error
    commits the set (:meth:`commit`), an error discards what was written.
    """

    def __init__(self, target: PathLike, *, inputs: Iterable[PathLike | None] = (),
                 overwrite: bool = False, files: Sequence[str] | None = None,
                 flag: str = "--out", hint: str = "", known: Iterable[str] | None = None) -> None:
        check_writable(target, flag)  # a valid name first: the resolving below needs one
        self.target = Path(target).expanduser().absolute()
        self.known = None if known is None else {str(k) for k in known}
        self.inputs = _resolved(inputs)
        self.overwrite = bool(overwrite)
        self.files = None if files is None else [str(f) for f in files]
        self.flag = flag
        self.hint = hint
        self._staging: Path | None = None
        self.check()

    @property
    def is_folder(self) -> bool:
        return self.files is None

    def _existing(self) -> list[str]:
        if self.is_folder:
            if self.target.is_file():
                raise OutputError(f"{self.flag} {self.target} is a file; give a folder name")
            return sorted(p.name for p in self.target.iterdir()) if self.target.is_dir() else []
        return [f for f in self.files if (self.target.parent / f).exists()]

    def check(self) -> None:
        """All checks of the policy; raises :class:`OutputError` naming the fix."""
        resolved = self.target.resolve()
        for item in self.inputs if self.is_folder else ():  # files: check_not_input below
            if item == resolved or (self.overwrite and resolved in item.parents):
                why = "is" if item == resolved else "lies inside"
                raise OutputError(f"the input {item} {why} the output {self.target}; "
                                  f"{self.flag} must not contain the inputs, choose another one")
        for name in self.files or []:
            check_not_input(self.target.parent / name, self.inputs, self.flag)
        check_writable(self.target, self.flag)
        clean_stale(self.target.parent)
        if self.is_folder:
            clean_stale(self.target)  # a killed writer's temporaries are no result
        existing = self._existing()
        if existing and not self.overwrite:
            hint = f", {self.hint}" if self.hint else ""
            raise OutputError(f"{self.flag} {self.target} already holds a result ({_shown(existing)});"
                              f" choose a new {self.flag}{hint}, or pass --overwrite to replace it "
                              f"whole")
        foreign = [n for n in existing if self.known is not None and n not in self.known
                   and not n.startswith(".")]  # hidden files (.DS_Store) go with the old set
        if self.is_folder and foreign:
            raise OutputError(f"{self.flag} {self.target} holds files that are not part of a result "
                              f"({_shown(foreign)}); replacing it would delete them — move them "
                              f"out, or choose a new {self.flag}")

    # --- writing ---------------------------------------------------------------------------------
    def _stage(self) -> Path:
        if self._staging is None:
            parent = self.target.parent
            parent.mkdir(parents=True, exist_ok=True)
            name = f".{self.target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
            self._staging = parent / name
            self._staging.mkdir(mode=0o700)
        return self._staging

    def folder(self) -> Path:
        """The staging folder itself (a folder output written as a whole, e.g. a zarr store)."""
        if self.files is not None:
            raise ValueError("folder() is for folder outputs; use path(name) for file outputs")
        return self._stage()

    def path(self, name: str) -> Path:
        """Where to write the output file ``name`` now (inside the staging folder)."""
        if self.files is not None and name not in self.files:
            raise ValueError(f"{name!r} is not one of the planned files {self.files}")
        return self._stage() / name

    def commit(self) -> Path:
        """Swap the staged files into place (replacing an old set whole); returns the target."""
        staging = self._stage()
        for p in [staging, *staging.rglob("*")]:
            os.chmod(p, dir_mode() if p.is_dir() else file_mode())
        if self.is_folder:
            self._swap_folder(staging)
        else:
            for name in self.files:
                if (staging / name).exists():
                    os.replace(staging / name, self.target.parent / name)
            shutil.rmtree(staging, ignore_errors=True)
        self._staging = None
        return self.target

    def _swap_folder(self, staging: Path) -> None:
        old = None
        if self.target.exists():
            old = self.target.with_name(
                f".{self.target.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}")
            os.replace(self.target, old)
        os.replace(staging, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Discard everything staged; the previous result (if any) stays as it was."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
