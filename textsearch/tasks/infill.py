"""Infilling: "The [BLANK] sat on the [BLANK]." → "The cat sat on the mat.", every blank filled jointly.

The target is the LM's distribution over whole sentences that read as the template:

    π(x) ∝ p_LM(x) · [x is the template with each blank filled by 1 to max_blank words]

A left-to-right writer fills a blank seeing only the text before it ("The cat sat on
the" → "floor", whatever follows). Here the LM scores the whole sentence, so the
text after a blank counts as much as the text before it. Drafts fill the blanks from
left to right with sampled continuations of different lengths; the most likely
sentences under π start an annealing search over insert / delete / replace edits
that may touch only the blanks (the template's tokens are locked, and no token goes
between two of them).
"""
from __future__ import annotations

import string
from functools import partial

import torch

from ..objectives import Fluency, Template
from ..objectives.template import BLANK
from ..proposals import EditProposal, LMSampler
from ..proposals.lm_sampler import sample_together
from ..schedules import Exponential
from ..state import State
from .polish import polish
from .seeds import phase_seed
from .sentences import PLAIN_CONTEXT, SentenceResult, SentenceTask, line_ends, validate_sentence

PUNCTUATION = string.punctuation

MAX_BLANK = 4             # words one blank may take
MAX_BLANKS = 6            # per sentence
STEPS = 12
CHAINS = 2
TOP_K = 8
TOP_P = 0.5
NUM_DRAFTS = 24           # left-to-right drafts per sentence; their lengths cycle through 1 … max_blank words
DRAFT_TEMPERATURE = 0.8
GAMMA = 1.0               # energy per nat of the sentence's log p
START_TEMPERATURE, END_TEMPERATURE = 0.3, 0.01


class Infill(SentenceTask):
    """Fill each [BLANK] of a sentence with 1 to `max_blank` words, jointly, under the LM's whole-sentence
    probability after `PLAIN_CONTEXT`: left-to-right drafts (`num_drafts`), then annealing (`steps`, `chains`, `top_k`)."""

    def __init__(self, lm, max_blank: int = MAX_BLANK, steps: int = STEPS, chains: int = CHAINS, top_k: int = TOP_K,
                 top_p: float = TOP_P, num_drafts: int = NUM_DRAFTS, draft_temperature: float = DRAFT_TEMPERATURE,
                 gamma: float = GAMMA, start_temperature: float = START_TEMPERATURE,
                 end_temperature: float = END_TEMPERATURE):
        if min(max_blank, steps, chains, top_k, num_drafts) < 1:
            raise ValueError(f"max_blank, steps, chains, top_k and num_drafts must be >= 1, "
                             f"got {max_blank}, {steps}, {chains}, {top_k}, {num_drafts}")
        self.lm, self.max_blank, self.steps, self.chains = lm, max_blank, steps, chains
        self.top_k, self.top_p, self.num_drafts, self.draft_temperature = top_k, top_p, num_drafts, draft_temperature
        self.fluency = Fluency(lm, gamma=gamma, end=line_ends(lm), context=PLAIN_CONTEXT)
        self.schedule = Exponential(start_temperature, end_temperature)

    def settings(self) -> dict:
        """What shapes the fills besides the text and the seed."""
        return {"task": "infill", "max_blank": self.max_blank, "steps": self.steps, "chains": self.chains,
                "top_k": self.top_k, "top_p": self.top_p, "num_drafts": self.num_drafts,
                "model": self.lm.fingerprint()}

    def check(self, text: str) -> str:
        """The usable template, or a ValueError: no letters, no blank, too many blanks."""
        text = validate_sentence(text)
        template = Template(text, self.max_blank)
        if template.blanks > MAX_BLANKS:
            raise ValueError(f"{template.blanks} blanks: at most {MAX_BLANKS} per sentence")
        return text

    def max_len(self, template: Template) -> int:
        fixed = len(self.lm.encode("".join(template.parts)))
        return fixed + template.blanks * (3 * self.max_blank + 2)

    def search_many(self, texts: list[str], seeds: list[int], trace: bool = False,
                    progress: bool = False) -> list[SentenceResult]:
        templates = [Template(text, self.max_blank) for text in texts]
        generators = [torch.Generator().manual_seed(phase_seed(seed, "draft")) for seed in seeds]
        proposal = EditProposal(self.lm, top_k=self.top_k, top_p=self.top_p, mode="exact",
                                max_len=max(map(self.max_len, templates)), inserts="beside_editable")
        with proposal.session(len(texts)):
            drafts = self.drafts(templates, generators)
            searches = [partial(self.search, proposal, *job, trace, progress and len(texts) == 1)
                        for job in zip(texts, templates, drafts, seeds)]
            if len(searches) == 1:
                return [searches[0]()]
            with self.lm.taking_turns() as turns:
                return turns.run(searches)

    def search(self, proposal: EditProposal, text: str, template: Template, drafts: list[list[str]], seed: int,
               trace: bool = False, progress: bool = False) -> SentenceResult:
        """The annealing search from the most likely drafts (each a list of fills, one per blank)."""
        objective = self.fluency + template
        sentences = list(dict.fromkeys(written(template, fills) for fills in drafts))
        energies = objective([self.lm.encode(s) for s in sentences])
        order = [i for i in energies.argsort().tolist() if torch.isfinite(energies[i])]
        if not order:
            raise ValueError(f"no draft fills the blanks of {text!r}: put spaces around each {BLANK}, "
                             f"or allow longer fills (max_blank)")
        starts = [locked_template(self.lm, template, fills_of(template, sentences[order[c % len(order)]]))
                  for c in range(self.chains)]
        polished = polish(self.lm, proposal, self.schedule, objective, starts, self.steps, seed,
                          trace=trace, progress=progress)
        return SentenceResult(text, polished.sample.text.strip(), polished.sample.energy, self.steps, 0.0,
                              polished.trace)

    def drafts(self, templates: list[Template], generators: list[torch.Generator]) -> list[list[list[str]]]:
        """Per template, `num_drafts` fills drawn left to right: blank b continues the text up to it, and
        draft d keeps the first 1 + d mod max_blank words. All templates' drafts share the forwards."""
        fills: list[list[list[str]]] = [[[] for _ in range(self.num_drafts)] for _ in templates]
        lengths = [1 + d % self.max_blank for d in range(self.num_drafts)]
        for blank in range(max(t.blanks for t in templates)):
            if blank == 0:          # every draft of a template continues the same text: one prompt, n rows
                prompts = [(k, None) for k in range(len(templates))]
            else:
                prompts = [(k, d) for k, t in enumerate(templates) if t.blanks > blank for d in range(self.num_drafts)]
            samplers = [self.sampler(written(templates[k], fills[k][d] if d is not None else [])) for k, d in prompts]
            rows = self.num_drafts if blank == 0 else 1
            drawn = sample_together(samplers, rows, [generators[k] for k, _ in prompts])
            for (k, d), (tokens, _) in zip(prompts, drawn):
                for draft, row in ([(d, tokens[0])] if d is not None else enumerate(tokens)):
                    fills[k][draft].append(fill(templates[k], blank, self.lm.decode(row), lengths[draft]))
        return fills

    def sampler(self, text: str) -> LMSampler:
        return LMSampler(self.lm, prompt=PLAIN_CONTEXT + text.rstrip(), max_new_tokens=2 * self.max_blank + 2,
                         temperature=self.draft_temperature, stop_at=(), opening=PLAIN_CONTEXT)


def fill(template: Template, blank: int, continuation: str, words: int) -> str:
    """A draft's fill of `blank`: the first `words` words of the continuation's first line, within its
    first sentence (a blank glued to the text before it takes the line's first word whole), without the
    punctuation that the template puts after the blank itself."""
    line = continuation.lstrip().split("\n")[0].lstrip("\"“'")     # a draft that opens a quotation
    left, right = template.parts[blank], template.parts[blank + 1]
    glued = left != "" and not left.endswith(" ")
    written = [w for w in line.split() if any(ch.isalnum() for ch in w)]      # not a lone full stop or dash
    ends = next((i + 1 for i, w in enumerate(written) if w[-1] in ".!?"), len(written))    # nor a next sentence
    text = " ".join(written[:min(ends, 1 if glued else words)])
    if right[:1] and right[0] in PUNCTUATION:
        text = text.rstrip(PUNCTUATION) or text
    return text


def written(template: Template, fills: list[str]) -> str:
    """The template's text up to its next blank, the earlier blanks filled (all filled: the sentence)."""
    return "".join(part + words for part, words in zip(template.parts, fills)) + template.parts[len(fills)]


def fills_of(template: Template, sentence: str) -> list[str]:
    fills = template.fills(sentence)
    if fills is None:
        raise ValueError(f"{sentence!r} does not read as {template.text!r}")
    return fills


def locked_template(lm, template: Template, fills: list[str]) -> State:
    """The filled sentence's tokens, those that lie wholly inside the template's own text locked."""
    sentence = written(template, fills)
    fixed, at = [], 0
    for part, words in zip(template.parts, fills + [""]):
        fixed.append((at, at + len(part)))
        at += len(part) + len(words)
    tokens = lm.encode(sentence)
    locked, end = [], 0
    for i in range(len(tokens)):
        start, end = end, len(lm.decode(tokens[:i + 1]))
        locked.append(start < end and any(a <= start and end <= b for a, b in fixed))
    return State(tuple(tokens), tuple(locked))
