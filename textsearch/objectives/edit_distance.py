"""EditDistance: stay a few small edits away from a given sentence, the prior of error correction."""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch

from .arguments import check_weight
from .base import Batch, Objective


class Edit(NamedTuple):
    """One word-level edit of the script that turns the source into the text.

    `operation` is "replace" (a word changed into another), "delete" (a source word dropped,
    `after` is ""), "insert" (a word added, `before` is "") or "swap" (two source words exchanged,
    `before` "a b", `after` "b a"; they are adjacent once the words deleted between them are gone).
    `position` is the index of the (first) source word concerned; for an insert, the source index
    before which the word goes, where a word inserted between the two words of a swap has the
    index of the swap's second word. A swapped word that also changes spelling gets a replace
    edit of its own, at its own source index.
    """

    operation: str
    before: str
    after: str
    position: int


@lru_cache(maxsize=1 << 16)
def char_distance(a: str, b: str) -> int:
    """Damerau–Levenshtein distance between two words in characters, case-sensitive.

    The unrestricted distance (Lowrance–Wagner), where a transposition counts one ("prak" →
    "park"): unlike the optimal-string-alignment variant it obeys the triangle inequality, so
    two typo fixes in a row never undercut one.
    """
    if a == b:
        return 0
    n, m = len(a), len(b)
    if not n or not m:
        return n + m
    big = n + m
    table = [[big] * (m + 2)] + [[big] + list(range(m + 1))]
    table += [[big, i] + [0] * m for i in range(1, n + 1)]
    last_row: dict[str, int] = {}
    for i in range(1, n + 1):
        ai, row, above = a[i - 1], table[i + 1], table[i]
        last_col = 0
        for j in range(1, m + 1):
            k, l = last_row.get(b[j - 1], 0), last_col
            if ai == b[j - 1]:
                cost, last_col = 0, j
            else:
                cost = 1
            row[j + 1] = min(above[j] + cost, row[j] + 1, above[j + 1] + 1,
                             table[k][l] + (i - k - 1) + 1 + (j - l - 1))
        last_row[ai] = i
    return table[n + 1][m + 1]


def _check_costs(word_cost: float, char_cost: float, typo_chars: int) -> tuple[float, float, int]:
    if isinstance(typo_chars, bool) or not (isinstance(typo_chars, int) and typo_chars >= 0):
        raise ValueError(f"typo_chars must be an integer >= 0, got {typo_chars!r}")
    return check_weight(word_cost, "word_cost"), check_weight(char_cost, "char_cost"), typo_chars


def _replace_cost(a: str, b: str, word_cost: float, char_cost: float, typo_chars: int) -> float:
    if a == b:
        return 0.0
    if char_cost >= word_cost or abs(len(a) - len(b)) > typo_chars:
        return word_cost                   # no near spelling can be cheaper than a new word
    d = char_distance(a, b)
    return min(word_cost, char_cost * d) if d <= typo_chars else word_cost


def _trim(src: list[str], txt: list[str]) -> tuple[int, list[str], list[str]]:
    """Drop the common first and last words: an optimal alignment keeps them (searches edit a few words)."""
    short = min(len(src), len(txt))
    p = 0
    while p < short and src[p] == txt[p]:
        p += 1
    q = 0
    while q < short - p and src[-1 - q] == txt[-1 - q]:
        q += 1
    return p, src[p:len(src) - q], txt[p:len(txt) - q]


def _table(src: list[str], txt: list[str], w: float, c: float, t: int, R: list[list[float]] | None = None):
    """The DP table D[i][j] = cheapest script from src[:i] to txt[:j], with the replace costs R.

    Steps: keep or replace src[i-1] by txt[j-1] (R), delete, insert (w), and a swap of two words
    (w, plus the replace costs of both): the source pair either adjacent with words inserted
    between them, or with the words between them deleted. A swap that both deletes and inserts
    between, or whose words are both not near-matches (R < w) of where they go, is never cheaper
    than a script without it, so those are not tried (as in Lowrance–Wagner).
    """
    n, m = len(src), len(txt)
    if R is None:
        R = [[_replace_cost(a, b, w, c, t) for b in txt] for a in src]
    near_src = [[l for l in range(m) if row[l] < w] for row in R]
    near_txt = [[k for k in range(n) if R[k][l] < w] for l in range(m)]
    D = [[j * w for j in range(m + 1)]]
    for i in range(1, n + 1):
        prev, Ri = D[i - 1], R[i - 1]
        row = [i * w] + [0.0] * m
        Rp, near_i = (R[i - 2], near_src[i - 1]) if i > 1 else (None, ())
        for j in range(1, m + 1):
            best = prev[j - 1] + Ri[j - 1]
            x = prev[j] + w
            if x < best:
                best = x
            x = row[j - 1] + w
            if x < best:
                best = x
            if Rp is not None and j > 1:
                r1 = Rp[j - 1]             # src[i-2] goes to txt[j-1]; src[i-1] to txt[l], then inserts
                if r1 < w and near_i:
                    for l in reversed(near_i):
                        if l > j - 2:
                            continue
                        base = w * (j - 1 - l) + r1
                        if base >= best:
                            break
                        x = D[i - 2][l] + base + Ri[l]
                        if x < best:
                            best = x
                r2 = Ri[j - 2]             # src[i-1] goes to txt[j-2]; src[k] to txt[j-1], deletes between
                if r2 < w:
                    for k in reversed(near_txt[j - 1]):
                        if k > i - 3:
                            continue
                        base = w * (i - 1 - k) + r2
                        if base >= best:
                            break
                        x = D[k][j - 2] + base + R[k][j - 1]
                        if x < best:
                            best = x
            row[j] = best
        D.append(row)
    return D, R, near_src, near_txt


def _cost(src: list[str], txt: list[str], w: float, c: float, t: int) -> float:
    _, src, txt = _trim(src, txt)
    if not src or not txt:
        return w * (len(src) + len(txt))
    return _table(src, txt, w, c, t)[0][-1][-1]


def edit_costs(source: str, text: str, word_cost: float = 1.0, char_cost: float = 0.4, typo_chars: int = 2) -> float:
    """The cheapest word-level script that turns `source` into `text` (words split on whitespace).

    Inserting, deleting or swapping two adjacent words costs `word_cost`; replacing word a by b
    costs `min(word_cost, char_cost * d)` when their Damerau–Levenshtein distance d is at most
    `typo_chars`, else `word_cost`; equal words cost 0.
    """
    w, c, t = _check_costs(word_cost, char_cost, typo_chars)
    return _cost(source.split(), text.split(), w, c, t)


def word_edits(source: str, text: str, typo_chars: int = 2, *, word_cost: float = 1.0,
               char_cost: float = 0.4) -> list[Edit]:
    """The edits of the cheapest script from `source` to `text` (see `edit_costs`), in source order.

    Ties go the same way every time: keep a word, then swap, fix a spelling, delete, insert, and
    last replace a word by another.
    """
    w, c, t = _check_costs(word_cost, char_cost, typo_chars)
    offset, src, txt = _trim(source.split(), text.split())
    if not src or not txt:
        return ([Edit("delete", a, "", offset + i) for i, a in enumerate(src)]
                + [Edit("insert", "", b, offset) for b in txt])
    D, R, near_src, near_txt = _table(src, txt, w, c, t)

    def close(x: float, d: float) -> bool:
        return abs(x - d) <= 1e-9 * max(1.0, abs(d))

    def replaced(i: int, j: int) -> list[Edit]:
        return [] if src[i] == txt[j] else [Edit("replace", src[i], txt[j], offset + i)]

    def swap(a: int, b: int) -> Edit:
        return Edit("swap", f"{src[a]} {src[b]}", f"{src[b]} {src[a]}", offset + a)

    blocks: list[list[Edit]] = []
    i, j = len(src), len(txt)
    while i or j:
        d = D[i][j]
        if i and j and src[i - 1] == txt[j - 1] and close(D[i - 1][j - 1], d):
            i, j = i - 1, j - 1
            continue
        step = None
        if i > 1 and j > 1:
            r1 = R[i - 2][j - 1]
            if r1 < w:
                for l in reversed(near_src[i - 1]):
                    if l <= j - 2 and close(D[i - 2][l] + w * (j - 1 - l) + r1 + R[i - 1][l], d):
                        step = ([swap(i - 2, i - 1)] + replaced(i - 2, j - 1) + replaced(i - 1, l)
                                + [Edit("insert", "", txt[x], offset + i - 1) for x in range(l + 1, j - 1)],
                                i - 2, l)
                        break
            r2 = R[i - 1][j - 2]
            if step is None and r2 < w:
                for k in reversed(near_txt[j - 1]):
                    if k <= i - 3 and close(D[k][j - 2] + w * (i - 1 - k) + r2 + R[k][j - 1], d):
                        step = ([swap(k, i - 1)] + replaced(k, j - 1)
                                + [Edit("delete", src[x], "", offset + x) for x in range(k + 1, i - 1)]
                                + replaced(i - 1, j - 2), k, j - 2)
                        break
        if step is not None:
            block, i, j = step
        elif i and j and R[i - 1][j - 1] < w and close(D[i - 1][j - 1] + R[i - 1][j - 1], d):
            block, i, j = replaced(i - 1, j - 1), i - 1, j - 1
        elif i and close(D[i - 1][j] + w, d):
            block, i = [Edit("delete", src[i - 1], "", offset + i - 1)], i - 1
        elif j and (not i or close(D[i][j - 1] + w, d)):
            block, j = [Edit("insert", "", txt[j - 1], offset + i)], j - 1
        else:
            block, i, j = replaced(i - 1, j - 1), i - 1, j - 1
        blocks.append(block)
    return [edit for block in reversed(blocks) for edit in block]


class EditDistance(Objective):
    """E(x) = the cost of the cheapest word-level script of edits that turns `source` into the text of x.

    The prior of error correction: the sentence meant is likely a few edits away from the one
    written, and the fewer the likelier. A word inserted, deleted, swapped with its neighbour or
    replaced by another word costs `word_cost`; a word replaced by a near spelling (at most
    `typo_chars` characters apart, Damerau–Levenshtein) costs `char_cost` per character instead,
    so with the defaults fixing "prak." to "park." (1.5) is much cheaper than changing a word (4)
    and the search prefers fixing spellings to rewriting. Words are whitespace-split with their
    punctuation and compared case-sensitively, on stripped texts; `edits(text)` lists the script.

    Parameters
    ----------
    source
        The sentence to correct (not empty).
    word_cost
        Energy of one word inserted, deleted, swapped or replaced by another word.
    char_cost
        Energy per character changed when a word is replaced by a near spelling, up to `typo_chars`.
        Keep `char_cost * (typo_chars + 1) >= word_cost` so that no chain of typo fixes undercuts a
        word replacement.
    typo_chars
        The most characters a replacement may change and still count as a typo fix.
    tokenizer
        Gives token ids their text when this term is used alone (in a sum, the language model's serves).
    """

    def __init__(self, source: str, word_cost: float = 4.0, char_cost: float = 1.5, typo_chars: int = 2,
                 tokenizer=None):
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"the source must be a non-empty text (the sentence to correct), got {source!r}")
        self.word_cost, self.char_cost, self.typo_chars = _check_costs(word_cost, char_cost, typo_chars)
        self.source, self.tokenizer = source, tokenizer
        self._words = source.split()
        self._columns: dict[str, tuple[float, ...]] = {}     # text word -> replace costs from each source word

    def edits(self, text: str) -> list[Edit]:
        """The cheapest script of word edits from the source to `text`, at this objective's costs."""
        if not isinstance(text, str):
            raise TypeError(f"edits() takes one text, got {type(text).__name__}")
        return word_edits(self.source.strip(), text.strip(), self.typo_chars,
                          word_cost=self.word_cost, char_cost=self.char_cost)

    def _cost(self, text: str) -> float:
        """`edit_costs` from the source, with each text word's replace costs kept between calls."""
        w, c, t = self.word_cost, self.char_cost, self.typo_chars
        start, src, txt = _trim(self._words, text.split())
        if not src or not txt:
            return w * (len(src) + len(txt))
        columns = self._columns
        if len(columns) > 1 << 16:
            columns.clear()
        for b in txt:
            if b not in columns:
                columns[b] = tuple(_replace_cost(a, b, w, c, t) for a in self._words)
        stop = start + len(src)
        R = [list(row) for row in zip(*[columns[b][start:stop] for b in txt])]
        return _table(src, txt, w, c, t, R)[0][-1][-1]

    def energy(self, batch: Batch) -> torch.Tensor:
        return torch.tensor([self._cost(text) for text in batch.texts], dtype=torch.float64)

    def __repr__(self) -> str:
        return (f"EditDistance({self.source!r}, word_cost={self.word_cost:g}, char_cost={self.char_cost:g}, "
                f"typo_chars={self.typo_chars})")
