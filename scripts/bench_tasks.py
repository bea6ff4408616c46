"""Paraphrase, correct and infill on CommonGen dev human sentences, each beside a prompted-SmolLM2 baseline.

    python scripts/bench_tasks.py --task all --n 100 --out out/bench_tasks     # the three tables
    python scripts/bench_tasks.py --task correct --n 8                         # a smoke run
    python scripts/bench_tasks.py --score-blind out/bench_tasks                # after marking the blind sheet

Items: one human reference (5 to 25 words) from each of `--n` seeded CommonGen dev concept sets.
Each task runs in a process of its own (its peak RSS in the table); textsearch and the baseline
take the items in packs of `--pack`, and an item's seconds are its pack's over the pack's size.

  paraphrase  source: the reference. textsearch `Paraphrase` against the same few-shot prompt
              decoded greedily (and sampled at T = 0.9). Judges: MiniLM cosine similarity to the
              source; the share that change >= 30% of its words (`word_change`); similarity at
              >= 30% change (an item that changes less counts 0: the main figure); Gemma-3-270M's
              NLL per token, unprompted. OUT/paraphrase_blind.tsv: 30 items, both systems' lines
              shuffled, names hidden (key in paraphrase_blind_key.json); mark each line 1/0 (natural
              and the same meaning) in a last column, save as paraphrase_blind_marked.tsv, and run
              --score-blind.
  correct     source: the reference with 1 to 3 seeded errors (typos, a deleted, a repeated or two
              swapped words). textsearch `Correct` against a few-shot "Sentence / Corrected" prompt,
              greedy. Judges: exact recovery of the reference; word error rate to it (the input's
              own as the "no change" row); the share of outputs left as the input.
  infill      source: the reference with 1 or 2 spans of 1 to 3 words blanked. textsearch `Infill`
              against left-to-right greedy filling (each blank continues the text before it, given
              the original span's word count: an oracle length, which favours the baseline).
              Judges: BLEU-4 against the concept set's other references; Gemma-3-270M's NLL per token
              after a prompt of its own; the share of items whose every fill is the original span.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

import textsearch as ts
from textsearch.objectives import Fluency
from textsearch.objectives.copy_penalty import word_change
from textsearch.objectives.edit_distance import edit_costs
from textsearch.objectives.template import BLANK, Template
from textsearch.proposals import LMSampler
from textsearch.proposals.lm_sampler import sample_together
from textsearch.tasks import Correct, Infill, Paraphrase
from textsearch.tasks import paraphrase as paraphrase_task
from textsearch.tasks.infill import fill
from textsearch.tasks.sentences import PLAIN_CONTEXT, trimmed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "commongen" / "dev.jsonl"
TASKS = ("paraphrase", "correct", "infill")
BLIND = 30
SHARES = {"changed >= 30%", "exact", "WER", "unchanged", "exact spans"}
CORRECT_PROMPT = "".join(f"Sentence: {a}\nCorrected: {b}\n" for a, b in [
    ("I has a red car.", "I have a red car."),
    ("We went too the beach beach on Sunday.", "We went to the beach on Sunday."),
    ("The cat sleeping is on sofa the.", "The cat is sleeping on the sofa."),
    ("He drinks coffe every morning.", "He drinks coffee every morning."),
]) + "Sentence: {source}\nCorrected:"
JUDGE_PROMPT = ("Short descriptions of everyday scenes, one per line:\nA boy feeds the ducks at the pond.\n"
                "Two women are talking over a cup of tea.\nThe mechanic repairs a flat tyre.\n")
"""The infill judge's context: not textsearch's, and a model the energy never sees."""


def load_items(n: int, seed: int) -> list[dict]:
    """`n` seeded concept sets, each with one usable reference as the sentence and its others."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(rows)
    items = []
    for row in rows:
        usable = [s for s in row["scene"] if 5 <= len(s.split()) <= 25]
        if usable and len(row["scene"]) > 1:
            sentence = " ".join(usable[0].split())
            items.append({"sentence": sentence, "others": [s for s in row["scene"] if s != usable[0]]})
        if len(items) == n:
            break
    return items


def corrupt(sentence: str, rng: random.Random) -> str:
    """The sentence with 1 to 3 errors, each on a word no earlier error touched (so a swap is never
    swapped back): a typo in a word of 3+ letters, a deleted, a repeated, or two swapped neighbouring
    words. A typo can still leave its word as it was, and a deletion may sit beside an earlier error."""
    words = sentence.split()
    touched = [False] * len(words)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["typo", "typo", "delete", "repeat", "swap"])
        free = [k for k in range(len(words)) if not touched[k]]
        if kind == "typo":
            free = [k for k in free if sum(c.isalpha() for c in words[k]) >= 3]
        elif kind == "swap":
            free = [k for k in free if k + 1 < len(words) and not touched[k + 1]]
        if not free:
            continue
        i = rng.choice(free)
        if kind == "typo":
            lead, core, tail = re.match(r"^(\W*)(.*?)(\W*)$", words[i]).groups()
            j = rng.randrange(len(core))
            letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
            edit = rng.choice(["delete", "insert", "replace", "swap"])
            if edit == "delete":
                core = core[:j] + core[j + 1:]
            elif edit == "insert":
                core = core[:j] + letter + core[j:]
            elif edit == "replace":
                core = core[:j] + letter + core[j + 1:]
            elif j + 1 < len(core):
                core = core[:j] + core[j + 1] + core[j] + core[j + 2:]
            words[i] = lead + core + tail
            touched[i] = True
        elif kind == "delete" and len(words) > 3:
            del words[i], touched[i]
            for k in (i - 1, i):            # the gap's neighbours: a later error there would stack on it
                if 0 <= k < len(touched):
                    touched[k] = True
        elif kind == "repeat":
            words.insert(i, re.sub(r"\W+$", "", words[i]) or words[i])
            touched.insert(i, True)
            touched[i + 1] = True
        elif kind == "swap":
            words[i], words[i + 1] = words[i + 1], words[i]
            touched[i] = touched[i + 1] = True
    return " ".join(words)


def blank(sentence: str, rng: random.Random) -> tuple[str, list[str]]:
    """The sentence with 1 or 2 non-adjacent spans of 1 to 3 words blanked (their letters: punctuation
    stays in the template), and the spans."""
    words = sentence.split()
    for _ in range(100):
        spans, taken = [], set()
        for _ in range(rng.randint(1, 2)):
            width = rng.randint(1, 3)
            start = rng.randrange(max(1, len(words) - width + 1))
            cells = set(range(start, min(len(words), start + width)))
            if cells & taken or {min(cells) - 1, max(cells) + 1} & taken:
                continue
            spans.append((start, max(cells) + 1))
            taken |= cells
        if spans and len(taken) < len(words) - 1:
            break
    spans.sort()
    parts, originals, at = [], [], 0
    for start, end in spans:
        span = " ".join(words[start:end])
        core = re.match(r"^(\W*)(.*?)(\W*)$", span)
        lead, inner, tail = core.groups()
        parts.append(" ".join(words[at:start] + [lead + BLANK + tail]))
        originals.append(inner)
        at = end
    template = " ".join(p for p in parts + [" ".join(words[at:])] if p)
    return template, originals


def packed(items: list, pack: int, run) -> tuple[list, list[float]]:
    """`run(pack)` over packs of items, and each item's seconds: its pack's over the pack's size."""
    outputs, seconds = [], []
    for start in range(0, len(items), pack):
        chunk = items[start:start + pack]
        began = time.perf_counter()
        outputs += run(chunk)
        seconds += [(time.perf_counter() - began) / len(chunk)] * len(chunk)
    return outputs, seconds


def greedy(lm, prompts: list[str], tokens: int, stop=("\n",), opening: str | None = None) -> list[str]:
    """Each prompt's greedy continuation, all in the same forwards."""
    samplers = [LMSampler(lm, prompt=p, max_new_tokens=tokens, top_k=1, stop_at=stop, opening=opening) for p in prompts]
    drawn = sample_together(samplers, 1, [torch.Generator().manual_seed(0) for _ in prompts])
    return [lm.decode(rows[0]) for rows, _ in drawn]


def run_task(name: str, items: list[dict], pack: int, seed: int) -> dict:
    """Every system of one task on the items: their outputs and seconds per item."""
    lm = ts.load_lm()
    systems = {}
    if name == "paraphrase":
        sources = [item["sentence"] for item in items]
        task = Paraphrase(lm)
        texts, secs = packed(sources, pack, lambda chunk: [r[0].text for r in task.generate(chunk, seed=seed)])
        systems["textsearch"] = {"texts": texts, "seconds": secs}
        prompt = paraphrase_task.PROMPT
        texts, secs = packed(sources, pack, lambda chunk: [trimmed(t.split("\n")[0]) for t in greedy(
            lm, [prompt.format(source=s) for s in chunk], 48, opening=paraphrase_task.EXAMPLES)])
        systems["prompted (greedy)"] = {"texts": texts, "seconds": secs}

        def sampled(chunk):
            samplers = [LMSampler(lm, prompt=prompt.format(source=s), max_new_tokens=48, temperature=0.9,
                                  opening=paraphrase_task.EXAMPLES) for s in chunk]
            drawn = sample_together(samplers, 1, [torch.Generator().manual_seed(seed + k) for k in range(len(chunk))])
            return [trimmed(lm.decode(rows[0])) for rows, _ in drawn]
        texts, secs = packed(sources, pack, sampled)
        systems["prompted (sampled, T=0.9)"] = {"texts": texts, "seconds": secs}
    elif name == "correct":
        sources = [item["corrupted"] for item in items]
        task = Correct(lm)
        texts, secs = packed(sources, pack, lambda chunk: [r[0].text for r in task.generate(chunk, seed=seed)])
        systems["textsearch"] = {"texts": texts, "seconds": secs}
        opening = CORRECT_PROMPT.split("Sentence: {source}")[0]
        texts, secs = packed(sources, pack, lambda chunk: [trimmed(t.split("\n")[0]) for t in greedy(
            lm, [CORRECT_PROMPT.format(source=s) for s in chunk], 48, opening=opening)])
        systems["prompted (greedy)"] = {"texts": texts, "seconds": secs}
    else:
        templates = [item["template"] for item in items]
        task = Infill(lm)
        texts, secs = packed(templates, pack, lambda chunk: [r[0].text for r in task.generate(chunk, seed=seed)])
        systems["textsearch"] = {"texts": texts, "seconds": secs}
        lengths = {item["template"]: [len(s.split()) for s in item["spans"]] for item in items}

        def left_to_right(chunk):
            shapes = [Template(t) for t in chunk]
            fills = [[] for _ in chunk]
            for b in range(max(s.blanks for s in shapes)):
                todo = [k for k, s in enumerate(shapes) if s.blanks > b]
                before = ["".join(p + f for p, f in zip(shapes[k].parts, fills[k])) + shapes[k].parts[b] for k in todo]
                continuations = greedy(lm, [PLAIN_CONTEXT + text.rstrip() for text in before], 12, stop=(),
                                       opening=PLAIN_CONTEXT)
                for k, continuation in zip(todo, continuations):
                    fills[k].append(fill(shapes[k], b, continuation, lengths[chunk[k]][b]))
            return ["".join(p + f for p, f in zip(s.parts, fs)) + s.parts[-1] for s, fs in zip(shapes, fills)]
        texts, secs = packed(templates, pack, left_to_right)
        systems["left-to-right (greedy, oracle length)"] = {"texts": texts, "seconds": secs}
    return {"systems": systems, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def wer(reference: str, text: str) -> float:
    return edit_costs(reference, text, word_cost=1.0, char_cost=1.0, typo_chars=0) / len(reference.split())


def judged(name: str, items: list[dict], run: dict, judge_lm, encoder) -> dict[str, dict]:
    """Each system's figures (module docstring)."""
    import sacrebleu
    rows = {}
    for system, out in run["systems"].items():
        texts, secs = out["texts"], out["seconds"]
        row = {"median s": statistics.median(secs), "p90 s": percentile(secs, 0.9), "peak RSS GB": run["peak_rss_gb"]}
        if name == "paraphrase":
            sources = [item["sentence"] for item in items]
            cos = [float(a @ b) for a, b in zip(encoder.embed(texts), encoder.embed(sources))]
            changed = [word_change(s, t) >= 0.3 for s, t in zip(sources, texts)]
            row = {"similarity": statistics.fmean(cos), "changed >= 30%": statistics.fmean(changed),
                   "similarity at >= 30% change": statistics.fmean(c * ok for c, ok in zip(cos, changed)),
                   "Gemma NLL/token": statistics.fmean(-lp.mean().item() for lp in judge_lm.token_log_probs(texts)),
                   **row}
        elif name == "correct":
            clean = [item["sentence"] for item in items]
            row = {"exact": statistics.fmean(t == c for t, c in zip(texts, clean)),
                   "WER": statistics.fmean(wer(c, t) for c, t in zip(clean, texts)),
                   "unchanged": statistics.fmean(t == item["corrupted"] for t, item in zip(texts, items)), **row}
        else:
            width = max(len(item["others"]) for item in items)
            streams = [[item["others"][k] if k < len(item["others"]) else None for item in items] for k in range(width)]
            conditional = Fluency(judge_lm, gamma=1.0, length_norm=True, context=JUDGE_PROMPT, end=["\n"])
            spans = [Template(item["template"]).fills(t) for item, t in zip(items, texts)]
            plain = lambda s: " ".join(re.findall(r"[\w']+", s.lower()))       # noqa: E731
            row = {"BLEU-4": sacrebleu.corpus_bleu(texts, streams).score,
                   "Gemma NLL/token after its prompt": conditional([judge_lm.encode(t) for t in texts]).mean().item(),
                   "exact spans": statistics.fmean(f is not None and [plain(x) for x in f] == [plain(x) for x in item["spans"]]
                                                   for f, item in zip(spans, items)),
                   **row}
        rows[system] = row
    if name == "correct":
        inputs = [item["corrupted"] for item in items]
        rows = {"input (no change)": {"exact": statistics.fmean(t == item["sentence"] for t, item in zip(inputs, items)),
                                      "WER": statistics.fmean(wer(item["sentence"], t) for t, item in zip(inputs, items)),
                                      "unchanged": 1.0}, **rows}
    if name == "infill":
        texts = [item["sentence"] for item in items]
        width = max(len(item["others"]) for item in items)
        streams = [[item["others"][k] if k < len(item["others"]) else None for item in items] for k in range(width)]
        conditional = Fluency(judge_lm, gamma=1.0, length_norm=True, context=JUDGE_PROMPT, end=["\n"])
        rows["human (the original)"] = {"BLEU-4": sacrebleu.corpus_bleu(texts, streams).score,
                                        "Gemma NLL/token after its prompt":
                                            conditional([judge_lm.encode(t) for t in texts]).mean().item(),
                                        "exact spans": 1.0}
    return rows


def markdown(rows: dict[str, dict]) -> str:
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    def shown(column: str, value) -> str:
        if value is None:
            return "–"
        return f"{value:.1%}" if column in SHARES else f"{value:.2f}" if column.endswith(("s", "GB")) else f"{value:.3f}"
    lines = ["| system | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {system} | " + " | ".join(shown(c, row.get(c)) for c in columns) + " |" for system, row in rows.items()]
    return "\n".join(lines)


def blind_sheet(out: Path, items: list[dict], run: dict, seed: int) -> None:
    """Paraphrase: the first BLIND items, textsearch's and the greedy baseline's lines shuffled, names hidden."""
    lines = [(item["sentence"], system, run["systems"][system]["texts"][k])
             for k, item in enumerate(items[:BLIND]) for system in ("textsearch", "prompted (greedy)")]
    random.Random(seed).shuffle(lines)
    (out / "paraphrase_blind.tsv").write_text("".join(f"{i}\t{s}\t{t}\n" for i, (s, _, t) in enumerate(lines)))
    (out / "paraphrase_blind_key.json").write_text(json.dumps({i: system for i, (_, system, _) in enumerate(lines)}))


def score_blind(out: Path) -> None:
    key = json.loads((out / "paraphrase_blind_key.json").read_text())
    marks: dict[str, list[int]] = {}
    for line in (out / "paraphrase_blind_marked.tsv").read_text().splitlines():
        fields = line.split("\t")
        marks.setdefault(key[fields[0]], []).append(int(fields[-1]))
    for system, values in marks.items():
        print(f"{system}: {statistics.fmean(values):.1%} natural and the same meaning ({len(values)} lines)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=TASKS + ("all",), default="all")
    parser.add_argument("--n", type=int, default=100, help="items per task (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pack", type=int, default=8, help="items per pack (default 8)")
    parser.add_argument("--out", type=Path, default=Path("out/bench_tasks"))
    parser.add_argument("--score-blind", type=Path, default=None, metavar="DIR",
                        help="the blind reading's shares from DIR/paraphrase_blind_marked.tsv")
    parser.add_argument("--run", choices=TASKS, default=None, help=argparse.SUPPRESS)     # a task's own process
    args = parser.parse_args()
    if args.score_blind:
        return score_blind(args.score_blind)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.run:
        items = json.loads((args.out / f"{args.run}_items.json").read_text())
        (args.out / f"{args.run}.json").write_text(json.dumps(run_task(args.run, items, args.pack, args.seed)))
        return
    tasks = TASKS if args.task == "all" else (args.task,)
    for name in tasks:
        items = load_items(args.n, args.seed)
        for i, item in enumerate(items):
            rng = random.Random(f"{args.seed}-{name}-{i}")
            if name == "correct":
                item["corrupted"] = corrupt(item["sentence"], rng)
            elif name == "infill":
                item["template"], item["spans"] = blank(item["sentence"], rng)
        (args.out / f"{name}_items.json").write_text(json.dumps(items, indent=1))
        print(f"{name}: {len(items)} items", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, __file__, "--run", name, "--out", str(args.out), "--seed", str(args.seed),
                        "--pack", str(args.pack)], check=True)
    judge_lm = ts.load_lm("gemma3-270m")
    encoder = ts.lm.load_sentence_encoder()
    command = " ".join(["python scripts/bench_tasks.py", *sys.argv[1:]])
    for name in tasks:
        items = json.loads((args.out / f"{name}_items.json").read_text())
        run = json.loads((args.out / f"{name}.json").read_text())
        table = f"{name}, {len(items)} items: {command}\n\n" + markdown(judged(name, items, run, judge_lm, encoder))
        (args.out / f"{name}.md").write_text(table + "\n")
        print(table + "\n")
        if name == "paraphrase":
            blind_sheet(args.out, items, run, args.seed)


if __name__ == "__main__":
    main()
