"""Edit proposals after CGMH: replace, insert or delete one token, candidates from an LM.

A move picks an operation, then a place, then (replace / insert) a token from the
energy-weighted top-K of the language model (see `weighted_choice`). Locked tokens
(keywords) are never replaced or deleted; insertion may go into any gap, the start
and the end included (inside a multi-token keyword too: the keyword energy forbids
the result), or with `inserts="beside_editable"` only into a gap beside an editable
token: locked text then stays in one piece and grows only where it has free tokens
(the blanks of an infilling).

mode="exact" reports the probability of every choice, so MH leaves
p(x) ∝ exp(−E(x)/T) invariant:

    op        P(op | x): p_op renormalised over the ops allowed at x (no insert at
              max_len, no delete at min_len or with every token locked)
    place     1 / #editable (replace, delete)   or   1 / #gaps open to insertion (insert)
    token     q(t) of `weighted_choice`, with its uniform mix

and the reverse move y → x is the delete at the inserted place, the insert of the
deleted token back into its gap (whose candidates are scored too), or the replace
back. Two places can produce the same sentence ("a a b" by inserting "a" in either
gap): each (place, token) move is paired with its own reverse, which detailed
balance allows. A state is its tokens and its locked mask, so a sequence in which a
keyword token also appears unlocked counts once per placement of the lock.

mode="cgmh" reproduces the acceptance rules published with CGMH (Miao et al. 2019):
replacement is a Gibbs step over the candidates (accepted unless forbidden),
insertion α = min(1, π(y)·p_del / (π(x)·p_ins·g(y|x))), deletion the inverse, with
g the candidate softmax and no uniform mix. It leaves out the place counts and the
candidate restriction, so it does not sample the target exactly; it is here to
compare with.
"""
from __future__ import annotations

import math

import torch

from ..state import State
from ..target import Target
from .base import Move, Proposal
from .candidates import TOP_K, Slot
from .weighted_choice import WeightedChoice, Weights

OPS = ("replace", "insert", "delete")
INSERTS = ("anywhere", "beside_editable")


class EditProposal(Proposal):
    """Replace / insert / delete one token, chosen by sentence energy among an LM's top-K.

    `model`: a CausalLM (candidates from p(y | x_<i)) or a MaskedLM (from a [MASK] at
    the slot). `top_k=None` takes every ordinary token. `top_p` < 1 ends a slot's
    candidates once they hold that much of the model's probability (at most top_k): the
    set depends on the slot's context alone, so the exact mode stays exact. `uniform_mix`
    is ε of the exact mode (cgmh uses none). `max_len=None` leaves the length unbounded above.

    Parameters
    ----------
    model
        A causal or masked language model that shortlists the tokens for each slot.
    top_k
        Candidate tokens per slot, each scored by the objective (None: every ordinary token).
    p_replace, p_insert, p_delete
        Probabilities of the three operations (>= 0, summing to 1); the exact mode renormalises
        them over the operations allowed at each state.
    mode
        "exact" (MH samples the target exactly) or "cgmh" (CGMH's published acceptance rules, approximate).
    uniform_mix
        ε: the probability of a uniform ordinary token instead of a candidate, which keeps every
        reverse move possible (exact mode only).
    min_len, max_len
        Bounds on the length in tokens, both inclusive (max_len None: no upper bound); start inside them.
    top_p
        A slot's candidates end once they hold this much of the model's probability (1: all top_k).
    inserts
        "anywhere": every gap; "beside_editable": only gaps next to an editable token, so that
        two locked tokens side by side are never pulled apart.
    """

    def __init__(self, model, top_k: int | None = TOP_K, p_replace: float = 1 / 3, p_insert: float = 1 / 3,
                 p_delete: float = 1 / 3, mode: str = "exact", uniform_mix: float = 0.01,
                 min_len: int = 1, max_len: int | None = None, top_p: float = 1.0, inserts: str = "anywhere"):
        if mode not in ("exact", "cgmh"):
            raise ValueError(f"mode must be 'exact' or 'cgmh', got {mode!r}")
        if inserts not in INSERTS:
            raise ValueError(f"inserts must be one of {INSERTS}, got {inserts!r}")
        probs = (p_replace, p_insert, p_delete)
        if any(not isinstance(p, (int, float)) or not p >= 0 for p in probs) or not math.isclose(sum(probs), 1.0):
            raise ValueError(f"p_replace, p_insert, p_delete must be >= 0 and sum to 1, got {probs}")
        if min_len < 0 or (max_len is not None and max_len < max(min_len, 1)):
            raise ValueError(f"need 0 <= min_len <= max_len and max_len >= 1, got min_len={min_len}, max_len={max_len}")
        self.choice = WeightedChoice(model, top_k, uniform_mix if mode == "exact" else 0.0, top_p)
        self.op_probs = tuple(float(p) for p in probs)
        self.mode, self.min_len, self.max_len, self.inserts = mode, min_len, max_len, inserts
        self.tokenizer = model.tokenizer

    def session(self, searches: int = 1):
        """A sampler run (or `searches` runs taking turns) keeps the language model's states of what it
        scored (`LanguageModel.session`)."""
        return self.choice.candidates.model.session(searches)

    def gaps(self, state: State) -> list[int]:
        """The gaps an insertion may go into (gap g: before token g; len(state): the end)."""
        if self.inserts == "anywhere":
            return list(range(state.num_gaps))
        return [g for g in range(state.num_gaps)
                if (g > 0 and not state.locked[g - 1]) or (g < len(state) and not state.locked[g])]

    def op_weights(self, state: State) -> list[float]:
        """p_replace, p_insert, p_delete, zeroed for the ops that cannot act on `state`."""
        editable = len(state.editable) > 0
        room = self.max_len is None or len(state) < self.max_len
        allowed = (editable, room and bool(self.gaps(state)), editable and len(state) > self.min_len)
        return [p if ok else 0.0 for p, ok in zip(self.op_probs, allowed)]

    def place_log_prob(self, state: State, op: int) -> float:
        """log P(op | state) + log P(place | op, state); CGMH counts the raw op probability only."""
        if self.mode == "cgmh":
            return math.log(self.op_probs[op]) if self.op_probs[op] > 0 else -math.inf
        weights = self.op_weights(state)
        places = len(self.gaps(state)) if op == 1 else len(state.editable)
        if weights[op] == 0 or places == 0:
            return -math.inf
        return math.log(weights[op] / sum(weights)) - math.log(places)

    def propose(self, states: list[State], energies: torch.Tensor, target: Target) -> Move:
        n, generator = len(states), target.generator
        for state in states:
            if len(state) < self.min_len or (self.max_len is not None and len(state) > self.max_len):
                raise ValueError(f"a state of length {len(state)} is outside [min_len={self.min_len}, "
                                 f"max_len={self.max_len}]: start from a sequence within the bounds")
        weights = torch.tensor([self.op_weights(s) for s in states], dtype=torch.float64).view(n, 3)
        movable = (weights.sum(-1) > 0).tolist()
        ops = torch.multinomial(weights + torch.tensor([[0.0 if m else 1.0] for m in movable]), 1,
                                generator=generator)[:, 0].tolist()
        uniforms = torch.rand(n, generator=generator, dtype=torch.float64).tolist()

        active = [c for c in range(n) if movable[c]]
        slots, draw, back, extra = [], [], [], []
        for c in active:
            x, op = states[c], ops[c]
            choices = self.gaps(x) if op == 1 else x.editable
            place = choices[int(uniforms[c] * len(choices))]
            if op == 2:
                extra.append(x.delete(place))
                slots.append(Slot(extra[-1], place, insert=True))        # its reverse: insert the token back
            else:
                slots.append(Slot(x, place, insert=op == 1))
            draw.append(op != 2)
            back.append(x.tokens[place] if op != 1 else 0)
        chosen = self.choice(slots, draw, target.temperature[active], target, extra)
        # the token terms of all slots at once: the drawn token forward, the token put back in reverse
        token_fwd = self._token_log_q(chosen.weights, chosen.tokens.clamp(min=0), chosen.energies).tolist()
        token_rev = self._token_log_q(chosen.weights, torch.tensor(back, dtype=torch.long),
                                      energies.to(torch.float64)[active]).tolist()

        proposed, kinds = list(states), ["stay"] * n
        new_energies = energies.to(torch.float64).tolist()
        log_fwd, log_rev = [0.0] * n, [0.0] * n
        deleted = iter(chosen.extra_energies.tolist())
        for row, c in enumerate(active):
            x, op = states[c], ops[c]
            kinds[c] = OPS[op]
            if op == 2:
                proposed[c], new_energies[c] = slots[row].state, next(deleted)
                log_fwd[c] = self.place_log_prob(x, 2)
                log_rev[c] = (self.place_log_prob(proposed[c], 1) + token_rev[row]
                              if slots[row].index in self.gaps(proposed[c]) else -math.inf)
            else:
                proposed[c], new_energies[c] = chosen.states[row], float(chosen.energies[row])
                log_fwd[c] = self.place_log_prob(x, op) + token_fwd[row]
                log_rev[c] = (self.place_log_prob(x, 0) + token_rev[row] if op == 0
                              else self.place_log_prob(proposed[c], 2))
        as_tensor = lambda values: torch.tensor(values, dtype=torch.float64)
        return Move(proposed, as_tensor(log_fwd), as_tensor(log_rev), kinds, as_tensor(new_energies))

    def _token_log_q(self, weights: Weights, tokens: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
        """log q of putting each token in its slot (CGMH: its Gibbs weight among the candidates)."""
        return weights.gibbs_log_prob(tokens, energies) if self.mode == "cgmh" else weights.log_prob(tokens)
