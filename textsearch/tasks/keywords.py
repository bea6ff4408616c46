"""Keyword-to-sentence: a fluent sentence that uses every keyword, found by search.

The target is what a user means by "a sentence with these keywords": the sentences the
LM writes after a few-shot prompt naming them, those that use them all, sharpened
toward the LM's likelier ones:

    π(x) ∝ p_LM(x | prompt(keywords))^β · [x uses every keyword (any inflection counts)]
                                         · [x is one sentence]

SMC draws particles toward π: `KeywordTwist` steers them to the keywords they still
miss and drops those that run on into a second sentence (the small LM's way of fitting
keywords it cannot join), and the importance weights undo the steering. The lowest-energy particles then
start a short annealing search over insert / delete / replace edits, keyword tokens
locked, under

    E(x) = −γ · log p_LM(x | prompt) + SentenceForm(x) + RepetitionPenalty(x)
           + ∞ · [x misses a keyword] + ∞ · [x is more than one sentence]

the log-probability of the whole sentence and its end (a newline), so a fragment pays
for the end it lacks and a run-on for every word it adds. β > 1 because the LM's own
samples (β = 1) keep its slips as often as it makes them; sharper targets (β ≥ 2) leave
too few particles that reach every keyword.

Two other starts remain. "draft": the best of several prompted drafts, each missing
keyword inserted where the LM finds it most fluent, repaired under the unprompted SLOR
(E = −γ · SLOR + form + repetition: the unigram term stops the unprompted LM from
preferring filler of the commonest words); it is faster and reads worse. "keywords":
CGMH's start, the bare keywords in the given order.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..objectives import Batch, Fluency, Keywords, OneSentence, RepetitionPenalty, SentenceForm
from ..objectives.keywords import keyword_forms
from ..proposals import EditProposal, LMSampler
from ..proposals.lm_sampler import sample_together
from ..samplers import SMC, KeywordTwist
from ..schedules import Exponential
from ..state import State
from .keyword_prompts import FewShot, few_shot
from .seeds import phase_seed, seed_for
from .polish import polish
from .sentences import line_ends, locked_state, trimmed
from .trace import TraceStep

STEPS = 5
CHAINS = 2
TOP_K = 8
TOP_P = 0.5               # a slot's candidates end at this much of the LM's probability (at most TOP_K)
INITS = ("smc", "draft", "keywords")
INIT = "smc"
PARTICLES = 16            # SMC drafts per set (init="smc")
SMC_BONUS = 3.0           # logit bonus of a missing keyword's first token in the SMC drafts
SMC_WEIGHT = 3.0          # log-potential per missing keyword: about what the bonus costs a particle's weight
SMC_BETA = 1.5            # the SMC drafts' target: the prompted LM to this power
GAMMA = 12.0              # energy per nat: of the sentence's log p (smc), of SLOR per token (draft, keywords)
FORM_WEIGHT = 4.0         # energy of each fragment-like end, or second sentence (SentenceForm)
REPETITION_WEIGHT = 2.0   # energy of each repeated word bigram: SLOR finds a repeated phrase predictable
UNIGRAM = "en"            # SLOR: the fluency credits back each word's unigram log-probability (wordfreq)
MISSING_COST = 0.5        # draft ranking: nats per token charged for each keyword a draft left out
MAX_KEYWORDS = 10         # per set: the search time grows steeply with each keyword (15 take minutes)
PACK = 8                  # batch mode: concept sets whose drafts share forwards
MAX_LEN = 48              # tokens; the edit proposal never grows a sentence past it
DRAFT_TOKENS = 24         # new tokens in a prompted draft
NUM_DRAFTS = 32           # prompted drafts to choose the starts from
DRAFT_TEMPERATURE = 0.8   # of the sampled drafts
START_TEMPERATURE, END_TEMPERATURE = 0.3, 0.01     # annealing schedule of the repair search


def validate_keywords(words: Sequence[str]) -> list[str]:
    """The keywords, stripped; a ValueError that says what to fix for unusable input."""
    if isinstance(words, str):
        raise TypeError("pass the keywords as a list of strings, e.g. ['dog', 'frisbee']")
    words = [w.replace("\ufeff", "").strip() for w in words]      # a byte-order mark is not part of a word
    if not words:
        raise ValueError("no keywords: give one or more, e.g. dog frisbee catch")
    if len(words) > MAX_KEYWORDS:
        raise ValueError(f"{len(words)} keywords: at most {MAX_KEYWORDS} per set, since the search time grows "
                         f"steeply with each one; split them into smaller sets")
    for word in words:
        if not any(ch.isalpha() for ch in word):
            raise ValueError(f"keyword {word!r} has no letters: remove it or give a word")
    return words


@dataclass
class KeywordResult:
    keywords: list[str]
    text: str
    energy: float
    covered: bool
    steps: int
    seconds: float
    trace: list[TraceStep] = field(default_factory=list)

    def record(self) -> dict:
        """The JSON line of this result (energy null if no sentence met the constraint: JSON has no inf)."""
        energy = self.energy if math.isfinite(self.energy) else None
        return {"keywords": self.keywords, "text": self.text, "energy": energy, "covered": self.covered,
                "steps": self.steps, "seconds": round(self.seconds, 3)}


class KeywordsToSentence:
    """Keywords → sentences with `lm`: SMC drafts toward the prompted LM's one-sentence uses of every
    keyword (`particles`, `beta`), polished by annealing over edit moves (`steps`, `chains`, `top_k`);
    `init` picks another start (module docstring)."""

    def __init__(self, lm, steps: int = STEPS, chains: int = CHAINS, top_k: int = TOP_K, init: str = INIT,
                 top_p: float = TOP_P, gamma: float = GAMMA, max_len: int = MAX_LEN, draft_tokens: int = DRAFT_TOKENS,
                 num_drafts: int = NUM_DRAFTS, draft_temperature: float = DRAFT_TEMPERATURE,
                 start_temperature: float = START_TEMPERATURE, end_temperature: float = END_TEMPERATURE,
                 form_weight: float = FORM_WEIGHT, missing_cost: float = MISSING_COST,
                 unigram: str | None = UNIGRAM, repetition_weight: float = REPETITION_WEIGHT,
                 particles: int = PARTICLES, beta: float = SMC_BETA):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if min(steps, chains, top_k, num_drafts, draft_tokens) < 1:
            raise ValueError(f"steps, chains, top_k, num_drafts and draft_tokens must be >= 1, "
                             f"got {steps}, {chains}, {top_k}, {num_drafts}, {draft_tokens}")
        self.lm, self.steps, self.chains, self.init = lm, steps, chains, init
        self.top_k, self.top_p = top_k, top_p
        self.max_len, self.draft_tokens, self.draft_temperature = max_len, draft_tokens, draft_temperature
        self.num_drafts, self.particles, self.beta = num_drafts, particles, beta
        self.fluency = Fluency(lm, gamma=gamma, length_norm=True, unigram=unigram)
        self.form, self.missing_cost = SentenceForm(form_weight), gamma * missing_cost
        self.repetition = RepetitionPenalty(n=2, weight=repetition_weight)
        self.sentence = self.fluency + self.form + self.repetition      # the energy without the keyword constraint
        self.proposal = EditProposal(lm, top_k=top_k, top_p=top_p, mode="exact", max_len=max_len)
        self.schedule = Exponential(start_temperature, end_temperature)

    def settings(self) -> dict:
        """What shapes this generator's sentences besides the keywords and the seed: its search settings
        and its model (by fingerprint)."""
        return {"init": self.init, "steps": self.steps, "chains": self.chains, "top_k": self.top_k,
                "top_p": self.top_p, "particles": self.particles, "beta": self.beta, "max_len": self.max_len,
                "model": self.lm.fingerprint()}

    def check(self, words: Sequence[str]) -> list[str]:
        """The usable keywords, or a ValueError: none, one without letters, too many, one in a script the
        model cannot write, too long for max_len."""
        words = validate_keywords(words)
        for word in words:
            unwritable(self.lm, word)
        width = len(self.lm.encode(self.bare_keywords(words)))
        if width > self.max_len:
            raise ValueError(f"the keywords take {width} tokens, more than the sentence length limit of "
                             f"{self.max_len}: give fewer keywords")
        return words

    def __call__(self, words: Sequence[str], num: int = 1, seed: int = 0, trace: bool = False,
                 progress: bool = False) -> list[KeywordResult]:
        """`num` sentences, each from its own search seeded by (seed, keywords, index)."""
        return self.generate([words], num, seed, trace, progress)[0]

    def generate(self, sets: Sequence[Sequence[str]], num: int = 1, seed: int = 0,
                 trace: bool = False, progress: bool = False) -> list[list[KeywordResult]]:
        """`num` sentences for each concept set, their drafts drawn and ranked in shared forwards: the
        results of one call per set (up to float rounding, which may flip a draw), in less time."""
        checked = [self.check(words) for words in sets]
        jobs = [(words, seed_for(seed, words, i)) for words in checked for i in range(num)]
        results = self.search_many([words for words, _ in jobs], [s for _, s in jobs], trace, progress)
        return [results[k * num:(k + 1) * num] for k in range(len(checked))]

    def search_many(self, sets: list[list[str]], seeds: list[int], trace: bool = False,
                    progress: bool = False) -> list[KeywordResult]:
        """One search per set, all in step: their drafts are drawn and ranked together, and their
        searches take turns so that each step scores all sets' candidates in one forward (`lockstep`).
        The model keeps the states of what it scores for these sets alone (the proposal's session),
        so nothing depends on earlier calls. Each result's seconds are its share of the whole."""
        started = time.perf_counter()
        keywords = [Keywords(words) for words in sets]
        with self.proposal.session(len(sets)):
            histories = [[[] for _ in range(self.chains)] for _ in sets]
            if self.init == "smc":
                starts, histories = self.smc_drafts(sets, keywords, seeds)
            elif self.init == "draft":
                generators = [torch.Generator().manual_seed(phase_seed(seed, "draft")) for seed in seeds]
                starts = self.drafts(sets, keywords, generators, progress)
            else:
                starts = [[self.keyword_start(words, kw)] * self.chains for words, kw in zip(sets, keywords)]
            searches = [partial(self.search, *job, trace, progress and len(sets) == 1)
                        for job in zip(sets, keywords, starts, seeds, histories)]
            if len(searches) == 1:
                results = [searches[0]()]
            else:
                with self.lm.taking_turns() as turns:
                    results = turns.run(searches)
        seconds = (time.perf_counter() - started) / len(sets)
        for result in results:
            result.seconds = seconds
        return results

    def search(self, words: list[str], keywords: Keywords, starts: list[State], seed: int,
               history: list[list[TraceStep]], trace: bool = False, progress: bool = False) -> KeywordResult:
        """The annealing search from one start per chain (`history`: how each start was found, if it
        was grown); the lowest-energy sentence it saw."""
        polished = polish(self.lm, self.proposal, self.schedule, self.sentence_energy(words) + keywords, starts,
                          self.steps, seed, history, trace, progress)
        text = polished.sample.text.strip()
        return KeywordResult(words, text, polished.sample.energy, keywords.covered([text])[0], self.steps, 0.0,
                             polished.trace)

    def sentence_energy(self, words: list[str]):
        """The energy of a sentence for these keywords, all but the keyword constraint. With SMC drafts,
        the conditional fluency: how likely the model finds the sentence, its end (a newline) included,
        as the answer to the few-shot prompt, and no text of two sentences or lines (outside the target);
        else the unprompted SLOR."""
        if self.init != "smc":
            return self.sentence
        fluency = Fluency(self.lm, gamma=self.fluency.gamma, end=line_ends(self.lm),
                          context=few_shot(words).prompt(words))
        return fluency + self.form + self.repetition + OneSentence()

    def smc_drafts(self, sets: list[list[str]], keywords: list[Keywords], seeds: list[int]
                   ) -> tuple[list[list[State]], list[list[list[TraceStep]]]]:
        """Per set, the lowest-energy distinct particles of an SMC run toward the prompted LM's sentences
        that use every keyword (`KeywordTwist`), one per chain, keyword tokens locked, and how each grew:
        its beginning at every resampling it survived, and its whole at the end. All sets' particles
        grow in the same forwards; a set whose particles all fail falls back to the prompted drafts."""
        def run(words: list[str], kw: Keywords, seed: int) -> dict[str, list[int]]:
            shot = few_shot(words)
            q = LMSampler(self.lm, prompt=shot.prompt(words), max_new_tokens=self.max_len, stop_at=("\n",),
                          opening=shot.examples)
            twist = KeywordTwist(self.lm, words, bonus=SMC_BONUS, weight=SMC_WEIGHT, one_sentence=True)
            smc = SMC(q, particles=self.particles, beta=self.beta, twist=twist, seed=phase_seed(seed, "smc"))
            resampled: list[int] = []
            try:
                result = smc.run(kw + OneSentence(), progress=False, callback=lambda step, tokens, log_w, info:
                                 info.resampled and resampled.append(step))
            except ValueError:                     # no particle ended with every keyword
                return {}
            grown = {trimmed(s.text): s.tokens for s in result.samples if math.isfinite(s.energy)}
            return {text: [TraceStep(t + 1, "grow", math.nan, self.lm.decode(tokens[:t + 1]).strip())
                           for t in resampled if t + 1 < len(tokens)] + [TraceStep(len(tokens), "smc", math.nan, text)]
                    for text, tokens in grown.items()}

        jobs = [partial(run, *job) for job in zip(sets, keywords, seeds)]
        with self.lm.taking_turns() as turns:
            texts = turns.run(jobs)
        failed = [i for i, group in enumerate(texts) if not group]
        fallback = iter(self.drafts([sets[i] for i in failed], [keywords[i] for i in failed],
                                    [torch.Generator().manual_seed(phase_seed(seeds[i], "draft")) for i in failed])
                        if failed else [])
        states, histories = [], []
        for words, kw, grown in zip(sets, keywords, texts):
            if not grown:
                states.append(next(fallback))
                histories.append([[] for _ in range(self.chains)])
                continue
            group = list(grown)
            ids = [self.lm.encode(few_shot(words).lead + text) for text in group]     # as it follows the prompt
            order = (self.sentence_energy(words) + kw)(ids).argsort().tolist()
            picks = [order[c % len(group)] for c in range(self.chains)]
            states.append([locked_state(ids[k], kw, self.lm.decode) for k in picks])
            histories.append([grown[group[k]] for k in picks])
        return states, histories

    def keyword_start(self, words: list[str], keywords: Keywords) -> State:
        """CGMH's start: the keywords in order, every keyword token locked."""
        return locked_state(self.lm.encode(self.bare_keywords(words)), keywords, self.lm.decode)

    @staticmethod
    def bare_keywords(words: list[str]) -> str:
        """The keywords in order as a sentence of their language would hold them. An English one has a
        leading space, so that the search can put words before the first keyword without gluing onto it."""
        shot = few_shot(words)
        return shot.lead + shot.join(words)

    def drafts(self, sets: list[list[str]], keywords: list[Keywords], generators: list[torch.Generator],
               progress: bool = False) -> list[list[State]]:
        """Per set, the best of `num_drafts` prompted drafts, one per chain, ranked by the sentence energy
        (all but the keyword constraint) plus `missing_cost` for each keyword left out: a fluent draft
        that misses one keyword often repairs into a better sentence than a clumsy one that has them all.
        Each is completed with the keywords it missed and its keyword tokens are locked (the bare
        keywords stand in for a draft that cannot be). All sets draw, and are ranked, together."""
        shots = [few_shot(words) for words in sets]
        samplers = [LMSampler(self.lm, prompt=shot.prompt(words), max_new_tokens=self.draft_tokens,
                              temperature=self.draft_temperature, opening=shot.examples)
                    for words, shot in zip(sets, shots)]
        drawn = sample_together(samplers, self.num_drafts, generators)
        texts = [list(dict.fromkeys(trimmed(self.lm.decode(t)) for t in tokens)) for tokens, _ in drawn]
        flat = [self.lm.encode(text) for group in texts for text in group]
        energies = self.sentence(Batch(flat, tokenizer=self.lm.tokenizer)).split([len(group) for group in texts])
        chosen = []
        for shot, group, kw, energy in zip(shots, texts, keywords, energies):
            missing = torch.tensor([len(kw.missing(t)) for t in group], dtype=torch.float64)
            order = (energy + self.missing_cost * missing).argsort().tolist()
            chosen += [(group[order[chain % len(group)]], kw, shot) for chain in range(self.chains)]
        completed = iter(self.completed(chosen, progress))
        states = []
        for words, kw in zip(sets, keywords):
            states.append([])
            for _ in range(self.chains):
                ids = self.lm.encode(next(completed))
                usable = 0 < len(ids) <= self.max_len and not kw.missing(self.lm.decode(ids))
                states[-1].append(locked_state(ids, kw, self.lm.decode) if usable else self.keyword_start(words, kw))
        return states

    def completed(self, drafts: list[tuple[str, Keywords, FewShot]], progress: bool = False) -> list[str]:
        """Each (draft, its keywords, its language's prompt) with the keywords it missed inserted, one
        by one (`best_insertions`), all drafts' first missing keyword at once, then all their second, …
        (with many keywords, the long part)."""
        texts = [text for text, _, _ in drafts]
        missing = [kw.missing(text) for text, kw, _ in drafts]
        ranks = max(map(len, missing), default=0)
        for rank in tqdm(range(ranks), desc="inserting keywords", disable=not progress or ranks < 2, leave=False):
            todo = [i for i, words in enumerate(missing) if len(words) > rank]
            for i, text in zip(todo, self.best_insertions([(texts[i], missing[i][rank], drafts[i][2]) for i in todo])):
                texts[i] = text
        return texts

    def best_insertions(self, items: list[tuple[str, str, FewShot]]) -> list[str]:
        """Each (text, word, the language's prompt) as the text with the word put where the LM finds it
        most fluent, then in its most fluent inflection there: two batched scorings for all items (gaps,
        then forms) instead of gaps × forms per item. The gaps are the language's (`FewShot.pieces`):
        between words, or in Chinese between characters."""
        split = [(shot.pieces(text), shot) for text, _, shot in items]

        def at(pieces: tuple[list[str], FewShot], gap: int, form: str) -> str:
            words, shot = pieces
            if gap == 0 and shot.capitalised:
                form = form[:1].upper() + form[1:]
            return shot.join(words[:gap] + [form] + words[gap:])

        def most_fluent(options: list[list[str]]) -> list[int]:
            energies = self.fluency([self.lm.encode(c) for group in options for c in group])
            return [int(torch.argmin(e)) for e in energies.split([len(group) for group in options])]

        # after the first word where a capital opens the sentence: that capital stays first
        firsts = [1 if words and shot.capitalised else 0 for words, shot in split]
        gaps = [first + best for first, best in zip(firsts, most_fluent(
            [[at(pieces, gap, word) for gap in range(first, len(pieces[0]) + 1)]
             for pieces, first, (_, word, _) in zip(split, firsts, items)]))]
        forms = [[at(pieces, gap, form) for form in sorted(keyword_forms(word))]
                 for pieces, gap, (_, word, _) in zip(split, gaps, items)]
        return [options[best] for options, best in zip(forms, most_fluent(forms))]


def unwritable(lm, word: str) -> None:
    """A ValueError if the model spells `word` with tokens that are not whole characters: a byte-level
    model without a script's characters spells them byte by byte, and its samples then break
    characters apart (U+FFFD)."""
    if any("\ufffd" in lm.decode([i]) for i in lm.encode(" " + word)):
        raise ValueError(f"keyword {word!r} is in a script this model cannot write (it has no whole tokens "
                         f"for it): use a multilingual model, e.g. --model gemma3-270m")
