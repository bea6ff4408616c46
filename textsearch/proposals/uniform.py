"""Uniform proposals: the simplest exact moves, and the simplest sequence distribution.

- `UniformSequences`: a length uniform in [min, max], then every token uniform; the
  simplest q for rejection and importance sampling, q(x) = 1 / (#lengths · V^len(x)).
- `UniformReplace`: one editable position gets another uniform token. The position is
  uniform over the editable ones and the token over the V − 1 others, and a replacement
  keeps the length and the locked mask, so q(y←x) = q(x←y) = 1 / (#editable · (V − 1)):
  a symmetric move.
- `UniformEdit`: replace, insert or delete one token, lengths in [min_len, max_len],
  every probability of the move counted so MH with it is exact:

      q(y←x) = P(op | x) · P(place | op, x) · P(token | op)

  P(op | x) is p_op renormalised over the ops allowed at x (no insert at max_len, no
  delete at min_len or when nothing is deletable, no replace when nothing is editable);
  P(place) is 1/#editable for replace and delete, 1/#gaps = 1/(len+1) for insert;
  P(token) is 1/(V−1) for replace (another token), 1/V for insert. The reverse of an
  insert is a delete (and vice versa), priced with the ops allowed at y. When a run of
  equal unlocked tokens makes several places give the same y (inserting "a" before or
  after an unlocked "a"), q sums them: both directions carry the same factor, the run length.

Locked positions never change.
"""
from __future__ import annotations

import math

import torch

from ..state import State
from ..target import Target
from .base import Move, Proposal, SequenceDistribution, random_editable


def check_lengths(low, high) -> tuple[int, int]:
    if not all(isinstance(n, int) for n in (low, high)) or not 0 <= low <= high:
        raise ValueError(f"lengths must be integers with 0 <= min <= max, got min={low!r}, max={high!r}")
    return low, high


class UniformSequences(SequenceDistribution):
    """q over sequences of `length` tokens (an int, or a (min, max) pair, both inclusive).

    Parameters
    ----------
    vocab_size
        Tokens are drawn uniformly from the ids 0 .. vocab_size − 1.
    length
        An int (a fixed length) or a (min, max) pair, both inclusive: the length is uniform over it.
    tokenizer
        Turns the run's text into token ids and back (None: the objective's tokenizer).
    """

    def __init__(self, vocab_size: int, length: int | tuple[int, int], tokenizer=None):
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.min_len, self.max_len = check_lengths(*((length, length) if isinstance(length, int) else length))
        self.tokenizer = tokenizer

    def sample(self, n: int, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
        lengths = torch.randint(self.min_len, self.max_len + 1, (n,), generator=generator)
        tokens = torch.randint(0, self.vocab_size, (n, self.max_len), generator=generator)
        sequences = [row[:length] for row, length in zip(tokens.tolist(), lengths.tolist())]
        return sequences, self.log_prob(sequences)

    def log_prob(self, sequences: list[list[int]]) -> torch.Tensor:
        """log q of each sequence [n] (−inf outside the support)."""
        log_lengths = math.log(self.max_len - self.min_len + 1)
        return torch.tensor([-log_lengths - len(s) * math.log(self.vocab_size)
                             if self.min_len <= len(s) <= self.max_len and all(0 <= t < self.vocab_size for t in s)
                             else -math.inf for s in sequences], dtype=torch.float64)


def check_vocab_size(vocab_size: int, least: int = 2) -> int:
    if not isinstance(vocab_size, int) or vocab_size < least:
        raise ValueError(f"vocab_size must be an integer >= {least}, got {vocab_size!r}")
    return vocab_size


def check_token(token: int, vocab_size: int) -> int:
    """A token a uniform move may remove must be one it could put back."""
    if not 0 <= token < vocab_size:
        raise ValueError(f"token id {token} is outside the vocabulary of {vocab_size} tokens: "
                         "pass the vocab_size of the tokenizer that made the sequences")
    return token


def other_token(current: int, u: float, vocab_size: int) -> int:
    """The token that the uniform u in [0, 1) picks among the vocab_size − 1 tokens other than `current`."""
    check_token(current, vocab_size)
    token = min(int(u * (vocab_size - 1)), vocab_size - 2)
    return token + (token >= current)


class UniformReplace(Proposal):
    """Symmetric single-site move: one editable position gets another uniform token.

    Parameters
    ----------
    vocab_size
        Number of token ids (at least 2): the new token is uniform over the ids other than the current one.
    tokenizer
        Turns the run's text into token ids and back (None: the objective's tokenizer).
    """

    def __init__(self, vocab_size: int, tokenizer=None):
        self.vocab_size = check_vocab_size(vocab_size)
        self.tokenizer = tokenizer

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        positions = random_editable(states, target.generator)
        uniforms = torch.rand(len(states), generator=target.generator, dtype=torch.float64).tolist()
        proposed, log_q, kinds = [], [], []
        for state, i, u in zip(states, positions, uniforms):
            if i is None:                                  # all locked or empty: stay
                proposed.append(state)
                log_q.append(0.0)
                kinds.append("stay")
                continue
            proposed.append(state.replace(i, other_token(state.tokens[i], u, self.vocab_size)))
            log_q.append(-math.log(len(state.editable) * (self.vocab_size - 1)))
            kinds.append("replace")
        log_q = torch.tensor(log_q, dtype=torch.float64)
        return Move(proposed, log_q, log_q.clone(), kinds)


def equal_run(state: State, i: int) -> int:
    """Length of the run of unlocked positions around i holding the same token as i."""
    token, tokens, locked = state.tokens[i], state.tokens, state.locked
    start, end = i, i
    while start > 0 and tokens[start - 1] == token and not locked[start - 1]:
        start -= 1
    while end + 1 < len(tokens) and tokens[end + 1] == token and not locked[end + 1]:
        end += 1
    return end - start + 1


class UniformEdit(Proposal):
    """Insert / delete / replace one token with uniform choices, counting every probability.

    Parameters
    ----------
    vocab_size
        Number of token ids (at least 2): inserted and replacing tokens are uniform over them.
    min_len, max_len
        Bounds on the length in tokens, both inclusive; states must start inside them.
    p_replace, p_insert, p_delete
        Relative weights of the operations (>= 0, not all 0; insert and delete both positive or
        both 0), renormalised over the operations allowed at each state.
    tokenizer
        Turns the run's text into token ids and back (None: the objective's tokenizer).
    """

    def __init__(self, vocab_size: int, min_len: int, max_len: int, p_replace: float = 1 / 3,
                 p_insert: float = 1 / 3, p_delete: float = 1 / 3, tokenizer=None):
        self.vocab_size = check_vocab_size(vocab_size)
        self.min_len, self.max_len = check_lengths(min_len, max_len)
        weights = {"replace": p_replace, "insert": p_insert, "delete": p_delete}
        if any(not w >= 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"p_replace, p_insert, p_delete must be >= 0 and not all 0, got {weights}")
        if (p_insert > 0) != (p_delete > 0):
            raise ValueError("insert and delete undo each other: give both p_insert and p_delete a positive "
                             "probability, or neither")
        self.weights = weights
        self.tokenizer = tokenizer

    def op_log_probs(self, state: State) -> dict[str, float]:
        """log P(op | state) over the ops allowed at this state."""
        length, editable = len(state), len(state.editable)
        allowed = {"replace": editable > 0, "insert": length < self.max_len,
                   "delete": editable > 0 and length > self.min_len}
        weights = {op: w for op, w in self.weights.items() if w > 0 and allowed[op]}
        total = sum(weights.values())
        return {op: math.log(w / total) for op, w in weights.items()}

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        uniforms = torch.rand(len(states), 3, generator=target.generator, dtype=torch.float64).tolist()
        moves = [self._edit(state, *u) for state, u in zip(states, uniforms)]
        proposed, forward, reverse, kinds = zip(*moves) if moves else ((), (), (), ())
        return Move(list(proposed), torch.tensor(forward, dtype=torch.float64),
                    torch.tensor(reverse, dtype=torch.float64), list(kinds))

    def _edit(self, x: State, u_op: float, u_place: float, u_token: float) -> tuple[State, float, float, str]:
        """One move from x: (y, log q(y←x), log q(x←y), op)."""
        if not self.min_len <= len(x) <= self.max_len:
            raise ValueError(f"a state has {len(x)} tokens, outside [min_len, max_len] = "
                             f"[{self.min_len}, {self.max_len}]: start inside the range")
        ops = self.op_log_probs(x)
        if not ops:
            return x, 0.0, 0.0, "stay"
        op = _pick(list(ops), [math.exp(v) for v in ops.values()], u_op)
        editable, V = x.editable, self.vocab_size
        if op == "replace":
            i = editable[min(int(u_place * len(editable)), len(editable) - 1)]
            y = x.replace(i, other_token(x.tokens[i], u_token, V))
            log_q = ops["replace"] - math.log(len(editable) * (V - 1))
            return y, log_q, log_q, op
        if op == "insert":
            gap = min(int(u_place * x.num_gaps), x.num_gaps - 1)
            y = x.insert(gap, min(int(u_token * V), V - 1))
            run = equal_run(y, gap)
            forward = ops["insert"] + math.log(run / (x.num_gaps * V))
            reverse = self.op_log_probs(y).get("delete", -math.inf) + math.log(run / len(y.editable))
            return y, forward, reverse, op
        i = editable[min(int(u_place * len(editable)), len(editable) - 1)]
        check_token(x.tokens[i], V)
        run = equal_run(x, i)
        y = x.delete(i)
        forward = ops["delete"] + math.log(run / len(editable))
        reverse = self.op_log_probs(y).get("insert", -math.inf) + math.log(run / (y.num_gaps * V))
        return y, forward, reverse, op

    def initial(self, chains: int, generator: torch.Generator) -> list[State]:
        """Uniform lengths in [min_len, max_len] and uniform tokens."""
        sequences, _ = UniformSequences(self.vocab_size, (self.min_len, self.max_len)).sample(chains, generator)
        return [State(tuple(s)) for s in sequences]


def _pick(options: list[str], probs: list[float], u: float) -> str:
    """The option whose cumulative-probability interval holds u."""
    total = 0.0
    for option, p in zip(options, probs):
        total += p
        if u < total:
            return option
    return options[-1]
