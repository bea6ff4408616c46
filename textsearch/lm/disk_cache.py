"""A directory cache of converted models that never serves a half-written entry.

Converting a quantised GGUF file into a Hugging Face model takes tens of seconds;
loading the saved safetensors copy takes about two. An entry is built in a temporary
directory next to its final place and renamed into place only when complete, so a
conversion killed half way leaves nothing that a later load would pick up.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """$TEXTSEARCH_CACHE, else $XDG_CACHE_HOME/textsearch, else ~/.cache/textsearch."""
    if os.environ.get("TEXTSEARCH_CACHE"):
        return Path(os.environ["TEXTSEARCH_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "textsearch"


def cached_dir(key: str, build: Callable[[Path], None]) -> Path:
    """The cache entry `key`, built by `build(empty_dir)` the first time it is asked for."""
    root = cache_root()
    final = root / key
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{key}.partial-", dir=root))
    try:
        build(partial)
        partial.chmod(0o755)            # mkdtemp makes it private; the entry is an ordinary directory
        os.replace(partial, final)
    except OSError:
        if not final.is_dir():          # a concurrent build that won the rename is fine
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final
