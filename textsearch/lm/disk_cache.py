"""A directory cache of converted models that never serves a half-written or damaged entry.

Converting a quantised GGUF file into a Hugging Face model takes tens of seconds;
loading the saved safetensors copy takes about two. An entry is built in a temporary
directory next to its final place and renamed into place only when complete, so a
conversion killed half way leaves nothing that a later load would pick up; the next
conversion removes such leftovers once the process that made them is gone.

Each entry holds a manifest of its files' sizes and of a hash of 1 MiB sampled from
each, checked at every load (milliseconds): a truncated, overwritten or missing file is
found, and the entry is converted again. A single flipped byte between the samples
is not found; the model then fails to load, and the error names the entry to delete.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

MANIFEST = "textsearch-manifest.json"
SAMPLES, SAMPLE_BYTES = 16, 65536           # per file: 16 evenly spaced 64 KiB reads
PARTIAL = ".partial-"
STARTED = time.time()                       # leftovers older than this process are not a build of ours


def cache_root() -> Path:
    """$TEXTSEARCH_CACHE, else $XDG_CACHE_HOME/textsearch, else ~/.cache/textsearch."""
    if os.environ.get("TEXTSEARCH_CACHE"):
        return Path(os.environ["TEXTSEARCH_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "textsearch"


def is_cached(path: str | Path) -> bool:
    """Whether `path` is an entry of this cache."""
    return Path(path).resolve().parent == cache_root().resolve()


def cached_dir(key: str, build: Callable[[Path], None]) -> Path:
    """The cache entry `key`, built by `build(empty_dir)` the first time it is asked for, and again
    when its files no longer match its manifest."""
    root = cache_root()
    final = root / key
    if final.is_dir():
        problem = damage(final)
        if problem is None:
            return final
        warnings.warn(f"the model cache {final} is damaged ({problem}); converting the model again", stacklevel=3)
        try:
            shutil.rmtree(final)
        except OSError as error:
            raise ValueError(f"the model cache {final} is damaged ({problem}) and cannot be removed "
                             f"({error.strerror}): delete {final}") from None
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    partial = Path(tempfile.mkdtemp(prefix=f".{key}{PARTIAL}{os.getpid()}-", dir=root))
    try:
        build(partial)
        write_manifest(partial)
        partial.chmod(0o755)            # mkdtemp makes it private; the entry is an ordinary directory
        os.replace(partial, final)
    except OSError:
        if not final.is_dir():          # a concurrent build that won the rename is fine
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def sample_hash(path: Path, size: int) -> str:
    """A hash of the file's size and of SAMPLES reads spread over it, ends included."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as handle:
        for k in range(SAMPLES):
            handle.seek(max(0, size - SAMPLE_BYTES) * k // (SAMPLES - 1))
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def files_of(entry: Path) -> dict[str, list]:
    """Relative path → [size, sample hash] of every file in an entry but the manifest."""
    found = {}
    for path in sorted(entry.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            size = path.stat().st_size
            found[path.relative_to(entry).as_posix()] = [size, sample_hash(path, size)]
    return found


def write_manifest(entry: Path) -> None:
    (entry / MANIFEST).write_text(json.dumps(files_of(entry), indent=1) + "\n", encoding="utf-8")


def damage(entry: Path) -> str | None:
    """What is wrong with an entry (no manifest, a file missing, changed or added), or None."""
    try:
        expected = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable manifest"
    found = files_of(entry)
    for name, (size, digest) in expected.items():
        if name not in found:
            return f"{name} is missing"
        if found[name][0] != size:
            return f"{name} has {found[name][0]} bytes, not {size}"
        if found[name][1] != digest:
            return f"{name} has changed"
    extra = sorted(set(found) - set(expected))
    return f"{extra[0]} was added" if extra else None


def remove_leftovers(root: Path) -> None:
    """Remove the temporary directories of builds whose process has ended (killed half way)."""
    for path in root.glob(f".*{PARTIAL}*"):
        pid = path.name.rsplit(PARTIAL, 1)[1].split("-", 1)[0]
        alive = pid.isdigit() and process_alive(int(pid))
        if not alive and (pid.isdigit() or path.stat().st_mtime < STARTED):
            shutil.rmtree(path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:             # someone else's process: alive
        return True
    return True
