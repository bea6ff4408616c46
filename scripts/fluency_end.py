"""Does scoring the sentence end, log p(EOS | x), help Fluency tell finished from truncated sentences?

For each complete sentence and its truncations (last word dropped, last two dropped,
each without the final period), print how often Fluency prefers the complete one
with and without the end scored, and the mean energy gap (truncated − complete).

    python scripts/fluency_end.py [--lm NAME_OR_PATH] [--gamma 0.8]
"""
from __future__ import annotations

import argparse

import textsearch as ts

SENTENCES = [
    "The cat sat on the mat.",
    "A dog caught the frisbee in the park.",
    "She drank a cup of hot tea before going to bed.",
    "The children played football on the beach all afternoon.",
    "He opened the window to let some fresh air in.",
    "We took the train to the city and visited a museum.",
    "The old man walked slowly down the quiet street.",
    "My sister bought a new red bicycle last week.",
    "The students listened carefully to the teacher.",
    "It rained heavily during the night.",
    "A little girl is eating an ice cream cone.",
    "The chef cut the vegetables with a sharp knife.",
    "They watched the sun set over the mountains.",
    "The boy threw the ball to his friend.",
    "Birds were singing in the tall trees.",
    "The farmer fed the cows early in the morning.",
    "I left my keys on the kitchen table.",
    "The baby fell asleep in her mother's arms.",
    "A woman is riding a horse across the field.",
    "The team celebrated their victory with a big dinner.",
]


def truncations(sentence: str) -> list[str]:
    words = sentence.rstrip(".").split()
    return [" ".join(words[:-1]), " ".join(words[:-2])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm", default=None, help="HF id, local dir or .gguf (default: the built-in LM)")
    parser.add_argument("--gamma", type=float, default=0.8)
    args = parser.parse_args()
    lm = ts.load_lm(args.lm)
    pairs = [(s, t) for s in SENTENCES for t in truncations(s)]
    for end in (False, True):
        fluency = ts.objectives.Fluency(lm, gamma=args.gamma, end=end)
        complete = fluency([s for s, _ in pairs])
        truncated = fluency([t for _, t in pairs])
        gap = truncated - complete
        wins = (gap > 0).double().mean().item()
        print(f"end={end!s:5}  complete preferred in {wins:6.1%} of {len(pairs)} pairs; "
              f"mean gap {gap.mean().item():+6.2f}, min {gap.min().item():+6.2f}; "
              f"mean E(complete) {complete.mean().item():6.2f}")


if __name__ == "__main__":
    main()
