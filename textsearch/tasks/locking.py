"""One writer per output file: a second run on the same --output stops at once.

Two runs appending to one results file would each write every set (both see the same
sets missing). Each writer holds an exclusive advisory lock (flock) on the file it
appends to for as long as it runs; the lock goes with the process, so a killed run
never leaves a stale lock behind. Where flock does not exist (Windows) there is no lock.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager

try:
    import fcntl
except ImportError:                       # pragma: no cover - not on POSIX
    fcntl = None


class Busy(ValueError):
    """Another process is writing this output."""


@contextmanager
def exclusive(paths: list[str]):
    """Hold an exclusive lock on each path (created if missing) while the block runs; Busy if another
    process holds one, OSError if a path cannot be opened for writing."""
    with ExitStack() as stack:
        for path in paths:
            handle = stack.enter_context(open(path, "a", encoding="utf-8"))
            if fcntl is None:
                continue
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(f"another textsearch run is writing {path}: wait for it to finish, "
                           "or choose another --output") from None
            stack.callback(fcntl.flock, handle.fileno(), fcntl.LOCK_UN)
        yield

