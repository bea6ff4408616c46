"""One writer per output file: a second run on the same --output stops at once.

Two runs appending to one results file would each write every set (both see the same
sets missing). Each writer holds an exclusive advisory lock (flock) on the file it
appends to for as long as it runs; the lock goes with the process, so a killed run
never leaves a stale lock behind. Where flock does not exist (Windows) there is no lock.
"""
from __future__ import annotations

import errno
import warnings
from contextlib import ExitStack, contextmanager

try:
    import fcntl
except ImportError:                       # pragma: no cover - not on POSIX
    fcntl = None


SUFFIX = ".lock"
UNLOCKABLE = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


def lock_path(output: str) -> str:
    """The file a writer of `output` locks: beside it, never replaced (a merge replaces the output)."""
    return output + SUFFIX


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
                raise Busy(f"another textsearch run is writing {path.removesuffix(SUFFIX)}: wait for it to "
                           "finish, or choose another --output") from None
            except OSError as error:              # a filesystem without locks (some NFS, Lustre, FUSE mounts)
                if error.errno not in UNLOCKABLE:
                    raise
                warnings.warn(f"{path}: this filesystem cannot lock files, so a second run on the same "
                              "output would not be stopped", stacklevel=3)
                continue
            stack.callback(fcntl.flock, handle.fileno(), fcntl.LOCK_UN)
        yield

