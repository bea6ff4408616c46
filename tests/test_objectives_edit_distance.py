"""EditDistance: the word-level edit script, its cost against a brute-force search, and the energy."""
import heapq
import itertools
import random

import pytest
import torch

from textsearch.objectives.base import Batch
from textsearch.objectives.edit_distance import Edit, EditDistance, char_distance, edit_costs, word_edits

SOURCE = "The dog ran to the park."
W, C = 4.0, 1.5                  # EditDistance's default word_cost and char_cost

DELETED = ("The dog ran to park.", Edit("delete", "the", "", 4))
INSERTED = ("The dog ran ran to the park.", Edit("insert", "", "ran", 3))
SWAPPED = ("The dog to ran the park.", Edit("swap", "ran to", "to ran", 2))
REPLACED = ("The cat ran to the park.", Edit("replace", "dog", "cat", 1))
TYPO = ("The dog ran to the prak.", Edit("replace", "park.", "prak.", 5))


def apply_edits(source: str, edits: list[Edit]) -> str:
    """The text that `edits` make of `source`, reading each position as a source index."""
    words = source.split()
    inserts: dict[int, list[str]] = {}
    fate: dict[int, str | None] = {}            # None: deleted; a string: replaced by it
    swaps: dict[int, Edit] = {}
    for e in edits:
        if e.operation == "insert":
            assert e.before == "" and 0 <= e.position <= len(words)
            inserts.setdefault(e.position, []).append(e.after)
            continue
        assert e.position not in fate, f"two edits of source word {e.position}: {edits}"
        if e.operation == "swap":
            assert e.before.split(" ")[0] == words[e.position]
            swaps[e.position] = e
            continue
        assert e.before == words[e.position], e
        assert e.operation in ("delete", "replace"), e
        fate[e.position] = None if e.operation == "delete" else e.after
        assert e.operation == "replace" or e.after == ""
        assert e.operation == "delete" or e.after not in ("", e.before)

    def word(p: int) -> list[str]:
        out = fate.get(p, words[p])
        return [] if out is None else [out]

    out, p = [], 0
    while True:
        out += inserts.get(p, [])
        if p == len(words):
            return " ".join(out)
        if p in swaps:                          # with the next word that is not deleted
            q = next(q for q in range(p + 1, len(words)) if fate.get(q, "") is not None)
            assert not any(inserts.get(x) for x in range(p + 1, q)), "an insert among deleted words"
            assert swaps[p].before == f"{words[p]} {words[q]}" and swaps[p].after == f"{words[q]} {words[p]}"
            out += word(q) + inserts.get(q, []) + word(p)
            p = q + 1
        else:
            out += word(p)
            p += 1


def edit_cost(e: Edit, word_cost: float, char_cost: float, typo_chars: int) -> float:
    if e.operation == "replace":
        d = char_distance(e.before, e.after)
        return min(word_cost, char_cost * d) if d <= typo_chars else word_cost
    return word_cost


def check_script(source: str, text: str, word_cost=1.0, char_cost=0.4, typo_chars=2) -> list[Edit]:
    """The edits rebuild the text, come in source order and cost what edit_costs says."""
    edits = word_edits(source, text, typo_chars, word_cost=word_cost, char_cost=char_cost)
    assert apply_edits(source, edits) == " ".join(text.split())
    assert [e.position for e in edits] == sorted(e.position for e in edits)
    assert sum(edit_cost(e, word_cost, char_cost, typo_chars) for e in edits) == \
        pytest.approx(edit_costs(source, text, word_cost, char_cost, typo_chars))
    return edits


def test_char_distance_is_damerau_levenshtein():
    assert char_distance("prak.", "park.") == 1                   # a transposition counts one
    assert char_distance("park.", "park.") == 0
    assert char_distance("Park", "park") == 1                     # case-sensitive
    assert char_distance("kitten", "sitting") == 3
    assert char_distance("ca", "abc") == 2                         # unrestricted: 3 in the OSA variant
    assert char_distance("", "abc") == 3 and char_distance("abc", "") == 3


def test_identical_text_costs_nothing():
    objective = EditDistance(SOURCE)
    assert objective([SOURCE, "  " + SOURCE + "\n"]).tolist() == [0.0, 0.0]
    assert objective.edits(SOURCE) == [] and objective.edits(" " + SOURCE) == []
    assert edit_costs(SOURCE, SOURCE) == 0.0 and word_edits(SOURCE, SOURCE) == []


def test_one_typo_is_one_cheap_replace():
    text, edit = TYPO
    objective = EditDistance(SOURCE)
    assert objective.edits(text) == [edit]
    assert objective([text]).tolist() == [C * 1]
    assert EditDistance(SOURCE, char_cost=0.5)([text]).tolist() == [0.5]
    check_script(SOURCE, text, W, C)


@pytest.mark.parametrize("text, edit", [DELETED, INSERTED, SWAPPED, REPLACED])
def test_one_word_edit_costs_word_cost(text, edit):
    objective = EditDistance(SOURCE)
    assert objective.edits(text) == [edit]
    assert objective([text]).tolist() == [W]
    assert check_script(SOURCE, text, W, C) == [edit]
    assert word_edits(SOURCE, text) == [edit]                     # the same script at the default 1 / 0.4


def test_unrelated_word_and_far_spelling_cost_a_word():
    objective = EditDistance(SOURCE)
    assert objective(["The dog ran to the beach.", "The dog ran to the PARK."]).tolist() == [W, W]
    # two characters apart: a typo fix of 2 · 1.5 = 3 < 4
    assert objective(["The dog ran to the pork!"]).tolist() == [2 * C]
    # a typo fix never costs more than a new word
    assert EditDistance(SOURCE, word_cost=2.0)(["The dog ran to the pork!"]).tolist() == [2.0]
    assert EditDistance(SOURCE, typo_chars=0)(["The dog ran to the prak."]).tolist() == [W]


@pytest.mark.parametrize("text, energy, edits", [
    ("The dog to ran the prak.", W + C, [SWAPPED[1], TYPO[1]]),
    ("dog ran to the the park", W + W + C, [Edit("delete", "The", "", 0), Edit("insert", "", "the", 4),
                                           Edit("replace", "park.", "park", 5)]),
    ("The big dog ran the park.", 2 * W, [Edit("insert", "", "big", 1), Edit("delete", "to", "", 3)]),
    ("The dgo ran to teh prak.", 3 * C, [Edit("replace", "dog", "dgo", 1), Edit("replace", "the", "teh", 4),
                                        Edit("replace", "park.", "prak.", 5)]),
])
def test_combined_edits_add_up(text, energy, edits):
    objective = EditDistance(SOURCE)
    assert objective([text]).tolist() == [pytest.approx(energy)]
    assert objective.edits(text) == edits
    check_script(SOURCE, text, W, C)


def test_swapped_word_with_a_typo_is_a_swap_and_a_replace():
    edits = check_script("the dog ran", "the ran dgo")
    assert edits == [Edit("swap", "dog ran", "ran dog", 1), Edit("replace", "dog", "dgo", 1)]
    assert edit_costs("the dog ran", "the ran dgo") == pytest.approx(1.4)
    # a swap across a deleted word, and with a word inserted between
    assert check_script("cat sun dog", "dog cat") == [Edit("swap", "cat dog", "dog cat", 0),
                                                       Edit("delete", "sun", "", 1)]
    assert check_script("cat dog", "dog sun cat") == [Edit("swap", "cat dog", "dog cat", 0),
                                                       Edit("insert", "", "sun", 1)]
    assert edit_costs("cat sun dog", "dog cat") == edit_costs("cat dog", "dog sun cat") == 2.0


@pytest.mark.parametrize("text", [t for t, _ in (DELETED, INSERTED, SWAPPED, REPLACED, TYPO)]
                         + ["The dog to ran the prak.", "dog ran to the the park", "", "park. the to ran dog The"])
def test_energy_is_symmetric(text):
    if not text:
        assert EditDistance(SOURCE)([text]).tolist() == [6 * W]
        return
    assert EditDistance(SOURCE)([text]).item() == pytest.approx(EditDistance(text)([SOURCE]).item())
    check_script(text, SOURCE, W, C)


def test_energy_of_texts_is_a_float64_tensor():
    texts = [SOURCE, TYPO[0], DELETED[0], "The dog to ran the prak."]
    energies = EditDistance(SOURCE)(texts)
    assert energies.dtype == torch.float64 and energies.shape == (4,)
    assert energies.tolist() == [0.0, C, W, W + C]
    assert EditDistance(SOURCE).energy(Batch.of(texts)).tolist() == energies.tolist()
    assert EditDistance(SOURCE, word_cost=1.0, char_cost=0.4)(texts).tolist() == pytest.approx([0, 0.4, 1, 1.4])


def test_energy_matches_edit_costs_across_calls():
    objective, rng = EditDistance(SOURCE), random.Random(7)
    words = SOURCE.split() + ["prak.", "cat", "teh", "dgo", "The", "park"]
    for _ in range(5):                          # the replace costs of text words are kept between calls
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 8))) for _ in range(20)]
        assert objective(texts).tolist() == pytest.approx([edit_costs(SOURCE, t, W, C) for t in texts])


def test_token_ids_read_through_the_tokenizer(tiny_lm):
    tokenizer = tiny_lm.tokenizer
    ids = tokenizer.encode("the dog ran to the park", add_special_tokens=False)
    objective = EditDistance("the dog ran to park", tokenizer=tokenizer)
    assert objective([ids]).tolist() == [W]


@pytest.mark.parametrize("source", ["", "   \n"])
def test_empty_source_is_an_error(source):
    with pytest.raises(ValueError, match="non-empty"):
        EditDistance(source)


@pytest.mark.parametrize("kwargs, match", [
    ({"word_cost": -1}, "word_cost"), ({"char_cost": float("nan")}, "char_cost"),
    ({"typo_chars": -1}, "typo_chars"), ({"typo_chars": 1.5}, "typo_chars"), ({"typo_chars": True}, "typo_chars"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EditDistance(SOURCE, **kwargs)


def test_repr():
    assert repr(EditDistance("a b", word_cost=2, typo_chars=1)) == \
        "EditDistance('a b', word_cost=2, char_cost=1.5, typo_chars=1)"


def brute_force_costs(source: tuple[str, ...], alphabet: list[str], word_cost: float, char_cost: float,
                      typo_chars: int, max_words: int) -> dict[tuple[str, ...], float]:
    """Dijkstra from `source` over all word lists of the alphabet up to `max_words` words: the cheapest
    sequence of inserts, deletes, adjacent swaps and replaces, each at its cost, to every list."""
    def replace(a, b):
        d = char_distance(a, b)
        return min(word_cost, char_cost * d) if d <= typo_chars else word_cost

    best, heap = {source: 0.0}, [(0.0, source)]
    while heap:
        cost, s = heapq.heappop(heap)
        if cost > best[s]:
            continue
        steps = [(s[:p] + s[p + 1:], word_cost) for p in range(len(s))]
        steps += [(s[:p] + (s[p + 1], s[p]) + s[p + 2:], word_cost) for p in range(len(s) - 1)]
        steps += [(s[:p] + (a,) + s[p + 1:], replace(s[p], a)) for p in range(len(s)) for a in alphabet if a != s[p]]
        if len(s) < max_words:
            steps += [(s[:p] + (a,) + s[p:], word_cost) for p in range(len(s) + 1) for a in alphabet]
        for nxt, step in steps:
            if cost + step < best.get(nxt, float("inf")) - 1e-12:
                best[nxt] = cost + step
                heapq.heappush(heap, (cost + step, nxt))
    return best


def random_ops(words: list[str], alphabet: list[str], rng: random.Random, n_ops: int) -> list[str]:
    """The words after n_ops random edits (a swap sometimes with a replace of one of its words)."""
    words = list(words)
    for _ in range(n_ops):
        op = rng.choice(["insert", "delete", "swap", "replace"])
        if op == "insert" or not words:
            words.insert(rng.randint(0, len(words)), rng.choice(alphabet))
        elif op == "delete":
            del words[rng.randrange(len(words))]
        elif op == "swap" and len(words) > 1:
            p = rng.randrange(len(words) - 1)
            words[p], words[p + 1] = words[p + 1], words[p]
            if rng.random() < 0.5:                # and respell one of the two, as a swap with a typo
                words[p + rng.randint(0, 1)] = rng.choice(alphabet)
        else:
            words[rng.randrange(len(words))] = rng.choice(alphabet)
    return words


ALPHABETS = [
    (["cat", "dog", "sun"], 1.0, 0.4),          # no near spellings: every replace costs a word
    (["cat", "cut", "dog"], 1.0, 0.4),          # cat → cut is a one-character typo fix
    (["ab", "ba", "abc"], 4.0, 1.5),            # all near: ab → ba 1 char, ab → abc 1, ba → abc 2
]


@pytest.mark.parametrize("alphabet, word_cost, char_cost", ALPHABETS)
def test_cost_is_the_brute_force_minimum_for_all_short_lists(alphabet, word_cost, char_cost):
    """Every pair of lists of up to 3 words, against the cheapest edit sequence through lists of up to 5."""
    lists = [tuple(w) for n in range(4) for w in itertools.product(alphabet, repeat=n)]
    for source in lists:
        reachable = brute_force_costs(source, alphabet, word_cost, char_cost, 2, max_words=5)
        src = " ".join(source)
        for text in lists:
            txt = " ".join(text)
            assert edit_costs(src, txt, word_cost, char_cost, 2) == pytest.approx(reachable[text]), (source, text)
            check_script(src, txt, word_cost, char_cost)


@pytest.mark.parametrize("alphabet, word_cost, char_cost", ALPHABETS)
def test_cost_is_the_brute_force_minimum_for_random_edits(alphabet, word_cost, char_cost):
    """Lists of up to 5 words and 1 to 3 random edits of them, against the cheapest sequence through lists
    one word longer than the longer of the two."""
    rng = random.Random(1234)
    for _ in range(50):
        source = [rng.choice(alphabet) for _ in range(rng.randint(1, 5))]
        text = random_ops(source, alphabet, rng, rng.randint(1, 3))
        src, txt = " ".join(source), " ".join(text)
        reachable = brute_force_costs(tuple(source), alphabet, word_cost, char_cost, 2,
                                      max_words=max(len(source), len(text)) + 1)
        assert edit_costs(src, txt, word_cost, char_cost, 2) == pytest.approx(reachable[tuple(text)]), (source, text)
        assert EditDistance(src, word_cost, char_cost)([txt]).item() == pytest.approx(reachable[tuple(text)])
        check_script(src, txt, word_cost, char_cost)
