"""UniformEdit: replace, insert or delete one token, with uniform tokens, lengths in [min_len, max_len].

Every probability of the move is counted, so MH with it is exact:

    q(y←x) = P(op | x) · P(place | op, x) · P(token | op)

- P(op | x): p_op renormalised over the ops allowed at x — no insert at max_len, no
  delete at min_len or when nothing is deletable, no replace when nothing is editable;
- P(place): 1/#editable for replace and delete, 1/#gaps = 1/(len+1) for insert;
- P(token): 1/(V−1) for replace (another token), 1/V for insert.

The reverse of an insert is a delete (and vice versa), priced with the ops allowed
at y. When a run of equal unlocked tokens makes several places give the same y
(inserting "a" before or after an unlocked "a"), q sums them: both directions carry
the same factor, the run length.
"""
from __future__ import annotations

import math

import torch

from ..sequences import State
from ..target import Target
from .base import Move, Proposal
from .uniform_replace import check_token, check_vocab_size, other_token
from .uniform_sequences import UniformSequences, check_lengths

OPS = ("replace", "insert", "delete")


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
    """Insert / delete / replace one token with uniform choices, counting every probability."""

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
