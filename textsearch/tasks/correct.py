"""Error correction: "The dog ran to the the prak." → "The dog ran to the park.", and the edits made.

The target weighs how likely the LM finds a sentence against how far it is from what was
written (CGMH's correction task, blog part 4's ρ(x, c) = p(x) · sim(x, c)):

    E(x) = −γ · log p_LM(x | CONTEXT) + EditDistance(x, source)

where a word inserted, deleted, swapped or replaced costs `word_cost` and a spelling fix
`char_cost` per character, so a fix must buy more likelihood than it costs. The search
moves by whole words, since a typo splits a word into tokens that no one-token edit can
mend: each step scores every sentence one word edit away (a word that repeats its
neighbour deleted, each word swapped with the next, a doubtful word respelled into a
dictionary word one character off, a word the LM expects inserted into a gap) in one
batch, and draws the next sentence from them and the current one ∝ exp(−E/T), T falling;
it stops where no neighbour is better.

One forward per step, of the sentence's prefixes, decides which neighbours are worth
scoring: a word is doubtful when it is no common word or the LM finds it surprising where
it stands, and a gap gets only the words the LM finds likely there. Respelling every word
would score six times as many sentences, nearly all of them worse. Only a repeated word
("the the") is ever deleted: people double words by mistake far more often than they add
stray ones, and the LM, which likes short sentences, would otherwise buy likelihood by
dropping words the writer meant.
"""
from __future__ import annotations

import re
import string
from functools import lru_cache, partial

import torch
from wordfreq import top_n_list

from ..objectives import Fluency
from ..objectives.edit_distance import EditDistance
from ..schedules import Exponential
from .seeds import phase_seed
from .sentences import PLAIN_CONTEXT, SentenceResult, SentenceTask, line_ends, validate_sentence
from .trace import TraceStep

ROUNDS = 6                # word edits at most (the search stops earlier where no neighbour is better)
WORD_COST = 5.0           # energy of a word inserted, deleted, swapped or replaced by another word
CHAR_COST = 2.5           # energy per character of a spelling fix
SPELLINGS = 6             # respellings tried per word: the commonest dictionary words one character off
INSERTS = 4               # words tried per gap at most: the LM's likeliest next words there
INSERT_LOG_P = -3.0       # ... of those, the ones whose log p there is at least this
COMMON = 20_000           # a word among the commonest this many is respelled only where it is surprising
SURPRISE = 9.0            # nats: the LM's surprise at a word's first token that makes a common word doubtful
VOCABULARY = 60_000       # dictionary size (wordfreq's commonest English words)
GAMMA = 1.0
START_TEMPERATURE, END_TEMPERATURE = 0.5, 0.01
LETTERS = string.ascii_lowercase + "'"
WORD = re.compile(r"^(\W*)([\w'-]+?)(\W*)$")


@lru_cache(maxsize=1)
def dictionary() -> dict[str, int]:
    """The commonest English words, each with its frequency rank."""
    return {word: rank for rank, word in enumerate(top_n_list("en", VOCABULARY))}


@lru_cache(maxsize=1 << 14)
def respellings(word: str, limit: int = SPELLINGS) -> tuple[str, ...]:
    """The `limit` commonest dictionary words one character edit (delete, insert, replace, swap of
    neighbours) from `word`, its punctuation and capital kept."""
    match = WORD.match(word)
    if not match:
        return ()
    lead, core, tail = match.groups()
    lower, known = core.lower(), dictionary()
    splits = [(lower[:i], lower[i:]) for i in range(len(lower) + 1)]
    edits = {a + b[1:] for a, b in splits if b} | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1} \
        | {a + c + b[1:] for a, b in splits if b for c in LETTERS} | {a + c + b for a, b in splits for c in LETTERS}
    found = sorted((w for w in edits if w in known and w != lower), key=known.__getitem__)[:limit]
    cased = [w[:1].upper() + w[1:] if core[:1].isupper() else w for w in found]
    return tuple(lead + w + tail for w in cased)


class Correct(SentenceTask):
    """Correct a sentence's spelling and word errors with `lm`: word-edit search under fluency plus an
    edit-distance prior (module docstring); results carry the edits made."""

    def __init__(self, lm, rounds: int = ROUNDS, word_cost: float = WORD_COST, char_cost: float = CHAR_COST,
                 gamma: float = GAMMA, spellings: int = SPELLINGS, inserts: int = INSERTS,
                 start_temperature: float = START_TEMPERATURE, end_temperature: float = END_TEMPERATURE,
                 insert_log_p: float = INSERT_LOG_P, surprise: float = SURPRISE):
        if min(rounds, spellings) < 1 or inserts < 0:
            raise ValueError(f"rounds and spellings must be >= 1 and inserts >= 0, got {rounds}, {spellings}, {inserts}")
        self.lm, self.rounds, self.word_cost, self.char_cost = lm, rounds, word_cost, char_cost
        self.spellings, self.inserts, self.insert_log_p, self.surprise = spellings, inserts, insert_log_p, surprise
        self.fluency = Fluency(lm, gamma=gamma, end=line_ends(lm), context=PLAIN_CONTEXT)
        self.schedule = Exponential(start_temperature, end_temperature)
        self.word_starts = [i for i in range(lm.vocab_size) if re.fullmatch(r" ?[A-Za-z]+", lm.decode([i]))]

    def settings(self) -> dict:
        return {"task": "correct", "rounds": self.rounds, "word_cost": self.word_cost, "char_cost": self.char_cost,
                "spellings": self.spellings, "inserts": self.inserts,
                "insert_log_p": self.insert_log_p, "surprise": self.surprise, "model": self.lm.fingerprint()}

    def check(self, text: str) -> str:
        """The usable sentence, or a ValueError: no letters, too long, or no English word to respell (the
        edits come from an English dictionary; Chinese would come back unchanged)."""
        text = validate_sentence(text)
        if not re.search("[A-Za-z]", text):
            raise ValueError("the sentence has no English words: correct respells words from an English "
                             "dictionary, so give an English sentence")
        return text

    def search_many(self, texts: list[str], seeds: list[int], trace: bool = False,
                    progress: bool = False) -> list[SentenceResult]:
        searches = [partial(self.search, text, seed, trace) for text, seed in zip(texts, seeds)]
        with self.lm.session(len(texts)):
            if len(searches) == 1:
                return [searches[0]()]
            with self.lm.taking_turns() as turns:
                return turns.run(searches)

    def search(self, source: str, seed: int, trace: bool = False) -> SentenceResult:
        prior = EditDistance(source, self.word_cost, self.char_cost)
        objective = self.fluency + prior
        generator = torch.Generator().manual_seed(phase_seed(seed, "search"))
        current, energy = source, float(objective([self.lm.encode(source)])[0])
        best, steps = (current, energy), [TraceStep(0, "init", energy, current)]
        for step in range(self.rounds):
            options = self.neighbours(current)
            energies = objective([self.lm.encode(text) for _, text in options]).tolist()
            if min(energies) >= energy:                 # a local minimum: nothing one edit away is better
                break
            temperature = float(self.schedule(step, self.rounds))
            logits = torch.tensor([-energy] + [-e for e in energies], dtype=torch.float64) / max(temperature, 1e-9)
            pick = int(torch.multinomial(torch.softmax(logits, 0), 1, generator=generator))
            if pick == 0:
                continue
            (operation, current), energy = options[pick - 1], energies[pick - 1]
            steps.append(TraceStep(step + 1, operation, energy, current))
            if energy < best[1]:
                best = (current, energy)
        text, energy = best
        reached = next(i for i, s in enumerate(steps) if s.text == text)
        return SentenceResult(source, text, energy, len(steps) - 1, 0.0, steps[:reached + 1] if trace else [],
                              prior.edits(text))

    def neighbours(self, text: str) -> list[tuple[str, str]]:
        """Every (operation, sentence) one word edit from `text` that is worth scoring (module docstring)."""
        words = text.split()
        surprise, inserts = self.read_gaps(words)
        cores = [re.sub(r"[^\w']+", "", w).lower() for w in words]
        options = [("delete", words[:i] + words[i + 1:]) for i, core in enumerate(cores)
                   if core and core in cores[max(0, i - 1):i] + cores[i + 1:i + 2]]
        options += [("swap", words[:i] + [words[i + 1], words[i]] + words[i + 2:])
                    for i in range(len(words) - 1) if words[i] != words[i + 1]]
        options += [("replace", words[:i] + [w] + words[i + 1:])
                    for i, word in enumerate(words) if self.doubtful(word, surprise[i])
                    for w in respellings(word, self.spellings)]
        options += [("insert", words[:g] + [w] + words[g:]) for g, news in enumerate(inserts) for w in news]
        return list({" ".join(ws): (op, " ".join(ws)) for op, ws in options}.values())

    def doubtful(self, word: str, surprise: float) -> bool:
        """Worth respelling: no common word, or one the LM did not expect where it stands."""
        match = WORD.match(word)
        rank = dictionary().get(match.group(2).lower(), VOCABULARY) if match else VOCABULARY
        return rank >= COMMON or surprise > self.surprise

    def read_gaps(self, words: list[str]) -> tuple[list[float], list[list[str]]]:
        """One forward of every prefix: per word, the LM's surprise (nats) at its first token there; per
        gap (before each word, and at the end), the likely words to insert there."""
        prefixes = [self.lm.encode(" ".join(words[:g])) if g else [] for g in range(len(words) + 1)]
        log_probs = self.lm.next_token_log_probs(prefixes, context=PLAIN_CONTEXT)
        surprise = []
        for g in range(len(words)):
            ids = prefixes[g + 1]                  # the text up to and with word g
            start = len(prefixes[g])
            if ids[:start] == prefixes[g] and len(ids) > start:
                surprise.append(-float(log_probs[g, ids[start]]))
            else:                       # the word merges into the prefix's tokens: no first token of its own
                surprise.append(float("inf"))
        if not self.inserts:
            return surprise, [[] for _ in prefixes]
        top = log_probs[:, self.word_starts].topk(self.inserts, dim=-1)
        inserts = [[self.lm.decode([self.word_starts[i]]).strip()
                    for v, i in zip(values, indices) if v >= self.insert_log_p]
                   for values, indices in zip(top.values.tolist(), top.indices.tolist())]
        return surprise, inserts
