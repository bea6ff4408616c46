"""The blind-reading sheet hides who wrote each line, and its score counts the marks per system."""
import csv
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "blind_sheet.py"
spec = importlib.util.spec_from_file_location("blind_sheet", SCRIPT)
blind = importlib.util.module_from_spec(spec)
spec.loader.exec_module(blind)


def report(path: Path, sets: int = 6) -> Path:
    rows = [{"concepts": [f"w{i}", "dog"], "references": [f"people {i}.", "other."],
             "textsearch": {"text": f"ours {i}.", "wall_s": 1.0}, "peer": {"text": f"theirs {i}.", "wall_s": 2.0}}
            for i in range(sets)]
    path.write_text(json.dumps({"config": {}, "summary": {}, "sets": rows}))
    return path


def test_the_sheet_names_no_system_and_the_key_names_every_line(tmp_path):
    blind.write(report(tmp_path / "report.json"), tmp_path / "blind", sets=4, seed=3)
    text = (tmp_path / "blind" / "sheet.tsv").read_text()
    assert "textsearch" not in text and "peer" not in text and "human" not in text
    lines = list(csv.DictReader((l for l in text.splitlines() if not l.startswith("#")), delimiter="\t"))
    key = json.loads((tmp_path / "blind" / "key.json").read_text())
    assert len(lines) == 4 * 3 and {l["id"] for l in lines} == set(key)
    assert sorted(key.values()) == sorted(["human", "peer", "textsearch"] * 4)
    for line in lines:          # each line is the sentence its key says
        assert line["sentence"].split()[0] == {"textsearch": "ours", "peer": "theirs", "human": "people"}[key[line["id"]]]
    systems, sets = [key[l["id"]] for l in lines], [l["keywords"] for l in lines]
    assert systems[-4:] != ["human"] * 4                                  # the references are not left at the end
    assert not all(sets[k] == sets[k + 1] == sets[k + 2] for k in range(0, len(sets), 3))    # nor grouped by set


def test_the_same_seed_gives_the_same_sheet_and_another_seed_another():
    rows = [{"concepts": ["a"], "references": [f"h{i}"], "s": {"text": f"s{i}"}} for i in range(10)]
    first = blind.sheet_lines(rows, ["s"], 5, seed=0)
    assert first == blind.sheet_lines(rows, ["s"], 5, seed=0)
    assert first != blind.sheet_lines(rows, ["s"], 5, seed=1)


def test_shares_count_marks_per_system_and_refuse_unmarked_lines():
    key = {"L0": "a", "L1": "a", "L2": "b", "L3": "a"}
    assert blind.shares({"L0": 1, "L1": 0, "L2": 1, "L3": 1}, key) == {"a": (2 / 3, 3), "b": (1.0, 1)}
    with pytest.raises(ValueError, match="1 lines have no mark"):
        blind.shares({"L0": 1, "L1": 0, "L2": 1}, key)


def test_a_marked_sheet_scores_from_the_command_line(tmp_path):
    blind.write(report(tmp_path / "report.json", sets=3), tmp_path / "b", sets=3, seed=0)
    key = json.loads((tmp_path / "b" / "key.json").read_text())
    sheet = tmp_path / "b" / "sheet.tsv"
    marked = [l if l.startswith(("#", "id\t")) else l + ("1" if key[l.split("\t")[0]] == "human" else "0")
              for l in sheet.read_text().splitlines()]
    sheet.write_text("\n".join(marked) + "\n")
    out = subprocess.run([sys.executable, str(SCRIPT), "score", str(tmp_path / "b")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "human            100.0% natural of 3" in out.stdout and "textsearch         0.0% natural of 3" in out.stdout
    sheet.write_text(sheet.read_text().replace("\t1\n", "\tyes\n", 1))
    bad = subprocess.run([sys.executable, str(SCRIPT), "score", str(tmp_path / "b")], capture_output=True, text=True)
    assert bad.returncode == 2 and "is not 1 or 0" in bad.stderr and "Traceback" not in bad.stderr


def test_two_readers_agreement_and_kappa():
    first = {"L0": 1, "L1": 1, "L2": 0, "L3": 0}
    assert blind.agreement(first, dict(first)) == (1.0, 1.0)
    assert blind.agreement(first, {"L0": 0, "L1": 0, "L2": 1, "L3": 1}) == (0.0, -1.0)
    alike, kappa = blind.agreement(first, {"L0": 1, "L1": 0, "L2": 0, "L3": 0})     # 3 of 4 alike
    assert alike == 0.75 and kappa == pytest.approx((0.75 - 0.5) / 0.5)              # chance: ½·¼ + ½·¾ = ½


def test_several_readers_score_side_by_side_and_a_sheet_of_other_lines_is_refused(tmp_path):
    blind.write(report(tmp_path / "report.json", sets=4), tmp_path / "b", sets=4, seed=0)
    key = json.loads((tmp_path / "b" / "key.json").read_text())
    sheet = tmp_path / "b" / "sheet.tsv"
    lines = sheet.read_text().splitlines()

    def marked(strict: bool) -> str:          # reader 1 finds only the references natural, reader 2 also ours
        natural = {"human"} if strict else {"human", "textsearch"}
        return "\n".join(l if l.startswith(("#", "id\t")) else l + str(int(key[l.split("\t")[0]] in natural))
                         for l in lines) + "\n"
    sheet.write_text(marked(True))
    (tmp_path / "second.tsv").write_text(marked(False))
    out = subprocess.run([sys.executable, str(SCRIPT), "score", str(tmp_path / "b"), "--also",
                          str(tmp_path / "second.tsv")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert rows["textsearch"][:3] == ["0.0%", "100.0%", "50.0%"] and rows["human"][:3] == ["100.0%"] * 3
    assert "readers 1 and 2 mark 66.7% of lines alike, Cohen's kappa 0.40" in out.stdout
    (tmp_path / "other.tsv").write_text(marked(False).replace("ours 0.", "ours zero."))
    bad = subprocess.run([sys.executable, str(SCRIPT), "score", str(tmp_path / "b"), "--also",
                          str(tmp_path / "other.tsv")], capture_output=True, text=True)
    assert bad.returncode == 2 and "is not a copy" in bad.stderr and "Traceback" not in bad.stderr


def test_no_lines_give_no_agreement_and_a_sheet_needs_a_set(tmp_path):
    alike, kappa = blind.agreement({}, {})
    assert math.isnan(alike) and math.isnan(kappa)
    with pytest.raises(ValueError, match="at least one set"):
        blind.write(report(tmp_path / "report.json"), tmp_path / "b", sets=0, seed=0)


def test_a_sorted_copy_with_a_byte_order_mark_is_read_as_the_same_sheet(tmp_path):
    blind.write(report(tmp_path / "report.json", sets=2), tmp_path / "b", sets=2, seed=0)
    sheet = tmp_path / "b" / "sheet.tsv"
    lines = [l + "1" if not l.startswith(("#", "id\t")) else l for l in sheet.read_text().splitlines()]
    sheet.write_text("\n".join(lines) + "\n")
    head, body = lines[:2], sorted(lines[2:], reverse=True)
    (tmp_path / "copy.tsv").write_text("\ufeff" + "\n".join(head + body) + "\n", encoding="utf-8")
    copy = blind.read_sheet(tmp_path / "copy.tsv")
    assert {l["id"]: l["sentence"] for l in copy} == {l["id"]: l["sentence"] for l in blind.read_sheet(sheet)}
    out = subprocess.run([sys.executable, str(SCRIPT), "score", str(tmp_path / "b"), "--also",
                          str(tmp_path / "copy.tsv")], capture_output=True, text=True)
    assert out.returncode == 0 and "mark 100.0% of lines alike" in out.stdout, out.stderr
