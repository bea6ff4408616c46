"""The built-in language model tells a fluent sentence from its scramble.

    python scripts/demo_scoring.py ["Your sentence." ...]

Each sentence is scored with its words shuffled beside it: log p is the total
log-probability under the model (higher is more fluent), all in one batched call.
"""
from __future__ import annotations

import random
import sys
import time

import textsearch as ts

SENTENCES = ["The cat sat on the mat.", "A dog caught the frisbee in the park.",
             "She reads a book every evening before bed."]


def scrambled(sentence: str, seed: int = 0) -> str:
    words = sentence.rstrip(".").split()
    random.Random(seed).shuffle(words)
    return " ".join(words).capitalize() + "."


def main(sentences: list[str]) -> None:
    start = time.perf_counter()
    lm = ts.load_lm()
    print(f"loaded the built-in model in {time.perf_counter() - start:.1f} s\n")
    pairs = [(s, scrambled(s)) for s in sentences]
    scores = lm.log_prob([text for pair in pairs for text in pair]).tolist()
    print(f"{'log p':>8}  sentence")
    for (fluent, mixed), fluent_lp, mixed_lp in zip(pairs, scores[::2], scores[1::2]):
        print(f"{fluent_lp:8.1f}  {fluent}\n{mixed_lp:8.1f}  {mixed}")
        print(f"{'':8}  the fluent sentence is e^{fluent_lp - mixed_lp:.0f} times more likely\n")


if __name__ == "__main__":
    main(sys.argv[1:] or SENTENCES)
