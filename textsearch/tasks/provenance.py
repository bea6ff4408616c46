"""The settings a batch output was made with, kept beside it, so a resume cannot mix them.

A results file is resumable: a restart appends the sets it lacks. Lines made with other
settings (another seed, model or number of steps) would then sit among the first run's
with nothing to tell them apart, so the settings that shape the results are written to
`OUT.settings.json` when the output is started, and a resume with different ones is
refused unless the user forces it.
"""
from __future__ import annotations

import json
import os
import warnings

from .batch import complete_lines, glob_parts


def settings_path(output: str) -> str:
    return output + ".settings.json"


def check_settings(output: str, settings: dict, force: bool = False) -> None:
    """Record `settings` for a new output; for one that holds results, a ValueError naming what differs
    from the recorded settings (with `force`, the new settings are recorded and the run goes on)."""
    started = bool(complete_lines(output)[0]) or any(complete_lines(part)[0] for part in glob_parts(output))
    path = settings_path(output)
    if started and not force:
        recorded = read_settings(path)
        if recorded is None:              # an output from before settings were recorded
            warnings.warn(f"{output} holds results but no record of their settings: resuming with these, "
                          f"recorded in {path} from now on", stacklevel=2)
            write_settings(path, settings)
            return
        changed = [f"{key} {recorded.get(key)!r} -> {settings.get(key)!r}"
                   for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)]
        if changed:
            raise ValueError(f"{output} was started with other settings ({', '.join(changed)}): rerun with the "
                             "same ones, choose another --output, or pass --force-resume to mix them")
        return
    write_settings(path, settings)


def read_settings(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            recorded = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def write_settings(path: str, settings: dict) -> None:
    """Written whole or not at all: a kill never leaves half a record."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(settings, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
