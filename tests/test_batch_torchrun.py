"""Batch mode under torchrun: two CPU processes (gloo) give the file one process gives.

Both runs go through the real command and the real keyword search, over the tiny test
LM saved as a model directory, so only the sharding differs between them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys


SETS = "dog ball\ncat, mat\n{\"concept_set\": \"park#red\"}\nblue ball\n42\nhappy dog\nsmall cat\nred mat\n"


def command(model_dir, sets, out) -> list[str]:
    return ["keywords", "--input", str(sets), "--output", str(out), "--model", str(model_dir), "--device", "cpu",
            "--steps", "4", "--chains", "2", "--top-k", "6", "--num", "2", "--seed", "11"]


def records(path) -> list[dict]:
    """The lines without their timing, the one field that differs between runs."""
    with open(path, encoding="utf-8") as handle:
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in handle]


def test_two_gloo_processes_merge_to_the_single_process_file(tmp_path, tiny_model_dir):
    sets = tmp_path / "sets.txt"
    sets.write_text(SETS, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    single, sharded = tmp_path / "single.jsonl", tmp_path / "sharded.jsonl"
    one = subprocess.run([sys.executable, "-m", "textsearch.cli", *command(tiny_model_dir, sets, single)],
                         capture_output=True, text=True, env=env, timeout=300)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "textsearch.cli", "--", *command(tiny_model_dir, sets, sharded)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 2 and f"{sets}:5:" in one.stderr, one.stderr     # the bad line, reported
    assert two.returncode != 0 and f"{sets}:5:" in two.stderr, two.stderr     # ... once, by rank 0
    assert two.stderr.count(f"{sets}:5:") == 1
    lines = records(single)
    assert len(lines) == 14 and [r["keywords"] for r in lines[::2]][:3] == [["dog", "ball"], ["cat", "mat"],
                                                                            ["park", "red"]]
    assert records(sharded) == lines
    assert not list(tmp_path.glob("sharded.jsonl.part*"))
