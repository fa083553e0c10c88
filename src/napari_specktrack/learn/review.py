"""The review of candidate crops: a pure state model the curation dock drives with keys.

:class:`Review` is an ordered list of :class:`Candidate` crops (frame, box, status) with a
current position, keyboard actions (:data:`SHORTCUTS`: accept, reject, next, previous, undo,
redo) and edits (add, remove, re-crop), every change undoable (a full undo stack of
snapshots; navigation alone is not a change). It knows no images: a
:class:`~.curation.CurationSession` cuts and flags the crops, and :mod:`.curation_io` exports
the accepted ones to a pair folder and reopens a folder as a review.

Listeners (``review.subscribe(callback)``) are called with the review after every change or
move, so a dock can redraw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ..errors import InputError
from .curation import Box

STATUSES = ("pending", "accepted", "rejected")
#: key → action of :meth:`Review.act` (the dock shows and binds these)
SHORTCUTS = {"a": "accept", "r": "reject", "Right": "next", "Left": "previous", "n": "next",
             "p": "previous", "u": "undo", "Control-Z": "undo", "Control-Shift-Z": "redo"}


@dataclass(frozen=True)
class Candidate:
    """One crop under review.

    ``frame`` and ``box`` say where it is cut (None for a whole-frame simulated pair of a
    reopened folder); ``name`` and ``record`` are those of the pair in the folder it was
    reopened from (None for a new crop, and cleared by a re-crop); ``split`` is kept from
    that folder ("train"/"validation") or chosen at export (None).
    """

    frame: int | None
    box: Box | None
    status: str = "pending"
    name: str | None = None
    split: str | None = None
    record: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple:
        return (self.frame, self.box) if self.box is not None else ("pair", self.name)

    @property
    def from_folder(self) -> bool:
        """True for a pair of the reopened folder, not re-cropped since."""
        return self.record is not None

    def pair_name(self) -> str:
        """The file stem of the exported pair: the folder's name, or f<frame>_y<y0>_x<x0>."""
        if self.record is not None:
            return str(self.name)
        if self.frame is None or self.box is None:
            raise InputError("a new crop needs a frame and a box")
        return f"f{self.frame:05d}_y{self.box.y0:05d}_x{self.box.x0:05d}"


class Counts(NamedTuple):
    accepted: int
    rejected: int
    remaining: int


class Review:
    """Ordered candidates, a current position and an undo stack (see module docstring)."""

    def __init__(self, candidates: Iterable[Candidate] = (), *, folder: Any = None) -> None:
        self.items: tuple[Candidate, ...] = ()
        self.index = 0
        self.folder = folder  # the PairFolder it was reopened from, or None
        self._undo: list[tuple[tuple[Candidate, ...], int]] = []
        self._redo: list[tuple[tuple[Candidate, ...], int]] = []
        self._listeners: list[Callable[[Review], None]] = []
        items = list(candidates)
        for c in items:
            self._check(c, items_so_far=())
        keys = [c.key for c in items]
        if len(set(keys)) != len(keys):
            raise InputError("the candidates hold the same crop twice; remove the duplicates")
        self.items = tuple(items)

    # --- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def current(self) -> Candidate | None:
        return self.items[self.index] if self.items else None

    def counts(self) -> Counts:
        """(accepted, rejected, remaining = pending)."""
        statuses = [c.status for c in self.items]
        return Counts(statuses.count("accepted"), statuses.count("rejected"),
                      statuses.count("pending"))

    def accepted(self) -> list[Candidate]:
        return [c for c in self.items if c.status == "accepted"]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def subscribe(self, callback: Callable[[Review], None]) -> None:
        """Call ``callback(review)`` after every change or move."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb(self)

    # --- moving (not undoable) ----------------------------------------------------------------------
    def go(self, i: int) -> Candidate | None:
        """Make candidate ``i`` current."""
        if self.items:
            if not 0 <= int(i) < len(self.items):
                raise InputError(f"candidate {i} is not in 0…{len(self.items) - 1}")
            self.index = int(i)
        self._notify()
        return self.current

    def next(self) -> Candidate | None:
        return self.go(min(self.index + 1, max(len(self.items) - 1, 0)))

    def previous(self) -> Candidate | None:
        return self.go(max(self.index - 1, 0))

    def _next_pending(self) -> int:
        n = len(self.items)
        for k in range(1, n + 1):
            j = (self.index + k) % n
            if self.items[j].status == "pending":
                return j
        return self.index

    # --- changes (undoable) ---------------------------------------------------------------------------
    def _change(self, items: Iterable[Candidate], index: int) -> None:
        self._undo.append((self.items, self.index))
        self._redo.clear()
        self.items = tuple(items)
        self.index = min(max(int(index), 0), max(len(self.items) - 1, 0))
        self._notify()

    def _check(self, c: Candidate, items_so_far: Iterable[Candidate] | None = None) -> None:
        if c.status not in STATUSES:
            raise InputError(f"status {c.status!r} is not one of {STATUSES}")
        if c.box is None and c.record is None:
            raise InputError("a new candidate needs a box")
        if items_so_far is not None and c.key in {x.key for x in items_so_far}:
            where = f"frame {c.frame} at {c.box.as_list()}" if c.box else repr(c.name)
            raise InputError(f"the crop of {where} is already in the review")

    def _mark(self, status: str, advance: bool) -> Candidate | None:
        if not self.items:
            return None
        items = list(self.items)
        items[self.index] = replace(items[self.index], status=status)
        here = self.index
        self._change(items, here)
        if advance:
            self.index = self._next_pending()
            self._notify()
        return self.items[here]

    def accept(self, advance: bool = True) -> Candidate | None:
        """Accept the current crop and move to the next pending one."""
        return self._mark("accepted", advance)

    def reject(self, advance: bool = True) -> Candidate | None:
        """Reject the current crop and move to the next pending one."""
        return self._mark("rejected", advance)

    def set_statuses(self, statuses: Mapping[int, str]) -> None:
        """Set the status of many candidates (by position) in one undoable step."""
        items = list(self.items)
        for i, status in statuses.items():
            if status not in STATUSES:
                raise InputError(f"status {status!r} is not one of {STATUSES}")
            items[int(i)] = replace(items[int(i)], status=status)
        self._change(items, self.index)

    def add(self, frame: int, box: Box, status: str = "pending") -> int:
        """Add a crop after the last one and make it current; returns its position."""
        c = Candidate(int(frame), box, status)
        self._check(c, self.items)
        self._change([*self.items, c], len(self.items))
        return self.index

    def remove(self, i: int | None = None) -> Candidate:
        """Remove candidate ``i`` (default the current one); the next one becomes current."""
        i = self.index if i is None else int(i)
        if not 0 <= i < len(self.items):
            raise InputError(f"there is no candidate {i} to remove")
        gone = self.items[i]
        self._change(self.items[:i] + self.items[i + 1:], min(i, len(self.items) - 2))
        return gone

    def recrop(self, box: Box, i: int | None = None) -> Candidate:
        """Move candidate ``i``'s box (default the current one); its status is kept, a pair of
        the reopened folder becomes a new crop (cut again from the sources at export)."""
        i = self.index if i is None else int(i)
        old = self.items[i]
        if old.frame is None:
            raise InputError(f"pair {old.name!r} is a whole simulated frame; it cannot be re-cropped")
        new = replace(old, box=box, name=None, record=None)
        self._check(new, self.items[:i] + self.items[i + 1:])
        items = list(self.items)
        items[i] = new
        self._change(items, i)
        return new

    def _restore(self, source: list, sink: list) -> bool:
        if not source:
            return False
        sink.append((self.items, self.index))
        self.items, self.index = source.pop()
        self._notify()
        return True

    def undo(self) -> bool:
        """Undo the last change (status, add, remove, re-crop); False when there is none."""
        return self._restore(self._undo, self._redo)

    def redo(self) -> bool:
        """Redo the last undone change; False when there is none."""
        return self._restore(self._redo, self._undo)

    def act(self, action: str) -> Any:
        """Run a keyboard action by name (a value of :data:`SHORTCUTS`)."""
        actions = {"accept": self.accept, "reject": self.reject, "next": self.next,
                   "previous": self.previous, "undo": self.undo, "redo": self.redo}
        if action not in actions:
            raise InputError(f"unknown review action {action!r}; one of {sorted(actions)}")
        return actions[action]()
