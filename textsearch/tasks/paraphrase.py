"""Paraphrase: the same meaning in other words, CGMH's unsupervised paraphrase with a prompted LM.

The energy (blog part 4's ρ(x, c) = p(x) · sim(x, c) · χ(x, c)):

    E(x) = −γ · log p_LM(x | prompt(source)) + Similarity(x, source) + CopyPenalty(x, source)
           + LengthPrior(x, len(source)) + RepetitionPenalty(x) + ∞ · [x lacks a kept word]

The few-shot prompt asks for a paraphrase, so the LM's likely answers are fluent and on
topic; the sentence embedding (MiniLM) holds the meaning; the copy penalty makes the
source itself, by far the LM's likeliest answer, cost until a sentence changes enough of
its words; the length prior, a charge per word of length gained or lost, keeps the LM,
which likes short sentences, from buying its change by dropping what the source says.
Prompted drafts, ranked by this energy, start an annealing search over
insert / delete / replace edits, the kept words' tokens locked.
"""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch

from ..lm import SentenceEncoder, load_sentence_encoder
from ..objectives import CopyPenalty, Fluency, Keywords, LengthPrior, RepetitionPenalty, Similarity
from ..objectives.arguments import check_weight
from ..objectives.text import words
from ..proposals import EditProposal, LMSampler
from ..proposals.lm_sampler import sample_together
from ..schedules import Exponential
from ..state import State
from .polish import polish
from .seeds import phase_seed
from .sentences import SentenceResult, SentenceTask, line_ends, locked_state, trimmed, validate_sentence

STEPS = 8
CHAINS = 2
TOP_K = 8
TOP_P = 0.5
NUM_DRAFTS = 24
DRAFT_TEMPERATURE = 0.9
GAMMA = 1.0                # energy per nat of the paraphrase's log p after the prompt
SIMILARITY_WEIGHT = 30.0   # energy per unit of cosine distance to the source
MIN_CHANGE = 0.3           # the share of the source's words a paraphrase changes before it stops paying
COPY_WEIGHT = 30.0         # the charge for repeating the source unchanged
LENGTH_WEIGHT = 1.5        # energy per word longer or shorter than the source
REPETITION_WEIGHT = 2.0
MAX_LEN = 64               # tokens
START_TEMPERATURE, END_TEMPERATURE = 0.3, 0.01
EXAMPLES = "".join(f"Sentence: {a}\nParaphrase: {b}\n" for a, b in [
    ("A man is cooking a meal in the kitchen.", "In the kitchen, a man prepares some food."),
    ("Two friends row a boat down the river.", "A pair of friends paddle their boat along the river."),
    ("The children are playing in the park.", "Kids play together at the park."),
    ("She reads a book before going to sleep.", "Before bed, she spends some time with a book."),
    ("The old dog is sleeping on the porch.", "On the porch, an elderly dog naps."),
])
PROMPT = EXAMPLES + "Sentence: {source}\nParaphrase:"


class Paraphrase(SentenceTask):
    """Paraphrase a sentence with `lm`: prompted drafts ranked and polished under fluency, MiniLM
    similarity and a copy penalty (module docstring); `keep` words must stay."""

    def __init__(self, lm, keep: Sequence[str] = (), encoder: str | SentenceEncoder | None = None,
                 steps: int = STEPS, chains: int = CHAINS, top_k: int = TOP_K, top_p: float = TOP_P,
                 num_drafts: int = NUM_DRAFTS, draft_temperature: float = DRAFT_TEMPERATURE, gamma: float = GAMMA,
                 similarity_weight: float = SIMILARITY_WEIGHT, min_change: float = MIN_CHANGE,
                 copy_weight: float = COPY_WEIGHT, length_weight: float = LENGTH_WEIGHT, max_len: int = MAX_LEN,
                 start_temperature: float = START_TEMPERATURE, end_temperature: float = END_TEMPERATURE):
        if min(steps, chains, top_k, num_drafts) < 1:
            raise ValueError(f"steps, chains, top_k and num_drafts must be >= 1, got {steps}, {chains}, {top_k}, {num_drafts}")
        if isinstance(keep, str):
            raise TypeError("pass the kept words as a list of strings, e.g. ['dog']")
        self.lm, self.keep, self.steps, self.chains = lm, list(keep), steps, chains
        self.top_k, self.top_p, self.num_drafts, self.draft_temperature = top_k, top_p, num_drafts, draft_temperature
        self.gamma, self.similarity_weight, self.min_change, self.copy_weight = gamma, similarity_weight, min_change, copy_weight
        self.length_weight, self.max_len = check_weight(length_weight, "length_weight"), max_len
        self.encoder = encoder if isinstance(encoder, SentenceEncoder) else load_sentence_encoder(encoder)
        self.repetition = RepetitionPenalty(n=2, weight=REPETITION_WEIGHT)
        self.proposal = EditProposal(lm, top_k=top_k, top_p=top_p, mode="exact", max_len=max_len)
        self.schedule = Exponential(start_temperature, end_temperature)

    def settings(self) -> dict:
        return {"task": "paraphrase", "keep": self.keep, "steps": self.steps, "chains": self.chains,
                "top_k": self.top_k, "top_p": self.top_p, "num_drafts": self.num_drafts,
                "similarity_weight": self.similarity_weight, "min_change": self.min_change,
                "copy_weight": self.copy_weight, "length_weight": self.length_weight, "model": self.lm.fingerprint()}

    def check(self, text: str) -> str:
        """The usable sentence, or a ValueError: no letters, too long, a kept word missing from it."""
        text = validate_sentence(text)
        if len(self.lm.encode(" " + text)) > self.max_len:
            raise ValueError(f"the sentence takes more than {self.max_len} tokens: give a shorter one")
        missing = Keywords(self.keep).missing(text) if self.keep else []
        if missing:
            raise ValueError(f"--keep {missing[0]!r} is not in the sentence: keep only words it has")
        return text

    def energy(self, source: str):
        """The paraphrase energy for `source` (module docstring)."""
        energy = (Fluency(self.lm, gamma=self.gamma, end=line_ends(self.lm), context=PROMPT.format(source=source))
                  + Similarity(source, self.encoder, self.similarity_weight)
                  + CopyPenalty(source, self.min_change, self.copy_weight) + self.repetition)
        if self.length_weight:
            energy = energy + LengthPrior(target=len(words(source)), weight=self.length_weight)
        return energy + Keywords(self.keep) if self.keep else energy

    def search_many(self, texts: list[str], seeds: list[int], trace: bool = False,
                    progress: bool = False) -> list[SentenceResult]:
        with self.proposal.session(len(texts)):
            drafts = self.drafts(texts, [torch.Generator().manual_seed(phase_seed(s, "draft")) for s in seeds])
            searches = [partial(self.search, *job, trace, progress and len(texts) == 1)
                        for job in zip(texts, drafts, seeds)]
            if len(searches) == 1:
                return [searches[0]()]
            with self.lm.taking_turns() as turns:
                return turns.run(searches)

    def drafts(self, texts: list[str], generators: list[torch.Generator]) -> list[list[str]]:
        """Per source, its distinct prompted drafts (the source itself among them, as the last resort)."""
        samplers = [LMSampler(self.lm, prompt=PROMPT.format(source=text), max_new_tokens=self.max_len,
                              temperature=self.draft_temperature, opening=EXAMPLES) for text in texts]
        drawn = sample_together(samplers, self.num_drafts, generators)
        return [list(dict.fromkeys([t for t in (trimmed(self.lm.decode(row)) for row in rows) if t] + [text]))
                for text, (rows, _) in zip(texts, drawn)]

    def search(self, source: str, drafts: list[str], seed: int, trace: bool = False,
               progress: bool = False) -> SentenceResult:
        objective = self.energy(source)
        ids = [self.lm.encode(" " + d)[:self.max_len] for d in drafts]       # as after "Paraphrase:", space led
        energies = objective(ids)
        order = [i for i in energies.argsort().tolist() if torch.isfinite(energies[i])] or [len(drafts) - 1]
        picks = [ids[order[c % len(order)]] for c in range(self.chains)]
        starts = ([locked_state(tokens, Keywords(self.keep), self.lm.decode) for tokens in picks] if self.keep
                  else [State(tuple(tokens)) for tokens in picks])
        polished = polish(self.lm, self.proposal, self.schedule, objective, starts, self.steps, seed,
                          trace=trace, progress=progress)
        return SentenceResult(source, polished.sample.text.strip(), polished.sample.energy, self.steps, 0.0,
                              polished.trace)
