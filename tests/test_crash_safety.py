"""Batch mode killed outright (kill -9) at random moments and restarted gives the file that an
uninterrupted run gives: no set lost, none written twice, none mixed with another's lines.

The runs go through the real command in subprocesses, over the tiny test LM saved as a
model directory; each kill comes once the file has grown past a point drawn from a fixed seed."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

SETS = "\n".join(["dog ball", "cat mat", "park red", "blue ball", "happy dog", "small cat", "red mat", "big tree",
                  "dog park", "cat ball", "blue mat", "red ball"] * 2) + "\n"
KILLS = 5


def command(model_dir, sets, out) -> list[str]:
    return [sys.executable, "-m", "textsearch.cli", "keywords", "--input", str(sets), "--output", str(out),
            "--model", str(model_dir), "--device", "cpu", "--steps", "6", "--chains", "2", "--top-k", "6",
            "--num", "2", "--pack", "3", "--seed", "5"]


def lines_of(path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in handle]


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_file(tmp_path, tiny_model_dir):
    sets = tmp_path / "sets.txt"
    sets.write_text(SETS, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    whole, killed = tmp_path / "whole.jsonl", tmp_path / "killed.jsonl"
    done = subprocess.run(command(tiny_model_dir, sets, whole), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = lines_of(whole)
    assert len(expected) == 2 * len(SETS.splitlines())

    draw, sizes, total = random.Random(0), [], whole.stat().st_size
    for _ in range(KILLS):
        # kill once the file has grown past a random point (a run's speed varies too much to time it)
        target = draw.uniform(0.1, 0.9) * total
        process = subprocess.Popen(command(tiny_model_dir, sets, killed), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env)
        while process.poll() is None and (killed.stat().st_size if killed.exists() else 0) < target:
            time.sleep(draw.uniform(0.001, 0.02))
        process.send_signal(signal.SIGKILL)
        process.wait()
        sizes.append(killed.stat().st_size if killed.exists() else 0)
    assert any(0 < size < whole.stat().st_size for size in sizes), sizes     # some kills landed mid-run
    done = subprocess.run(command(tiny_model_dir, sets, killed), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert lines_of(killed) == expected
