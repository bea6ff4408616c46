"""Continuations drawn from a causal LM, token by token, many rows and prompts in each forward.

The prompt runs through the model once (only its tail when its `opening` has run
before: `prompts`), and every row continues from that one key/value cache: the
rows' tokens are laid end to end after the prompt as a token tree, rows that drew
the same tokens so far sharing one node, each node attending to the prompt and its
own row's tokens. So each new token costs one step of the cached model, a prefix that
several rows drew runs once, and the prompt's cache is never copied per row. A row
stops at a stop token or after `max_new_tokens`, and leaves, so the steps after it
cost only the rows still drawing. Several prompts draw in the same forwards: their
caches laid end to end in one row, the opening once (`laid_end_to_end`), and each
step's nodes of every prompt after them, so no prompt is padded to another's node
count; every node attends to the opening in one product for all and to its own
prompt's and row's columns, gathered (`attention`), and the cache grows in place
(`kv.growing`).

What a row draws from is the policy's to say (`DraftPolicy.weights`: tempered, cut to
the top-k, specials removed); the engine adds up the log q of exactly what was drawn:
the product of the drawn tokens' probabilities, times the probability of stopping
there (the sum over all stop tokens) when the row stopped early.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from .attention import gathered_for
from .base import Stats
from .kv import growing, returned_cache, with_cache
from .prompts import Openings, laid_end_to_end, run_prompts
from .tree import additive_mask

BLOCK = 256     # vocabulary entries per block of a two-stage draw


class DraftPolicy(Protocol):
    """What one prompt's rows draw: the settings of an `LMSampler`."""

    context: list[int]           # the prompt's tokens, the start token first
    opening: int                 # how many of them other prompts share (their cache is kept)
    stop: torch.Tensor           # [V] bool: tokens that end a row
    max_new_tokens: int

    def weights(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(next token) up to a factor per row [n, V] (float32, CPU), and the log of that factor [n]."""


def draw_tokens(probs: torch.Tensor, node: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row, from its node's distribution: row i draws from probs[node[i]] ([nodes, V],
    unnormalised). A block of the vocabulary is drawn by its mass, then a token in it, so each
    node's distribution is read once and a row's draw costs a few hundred entries; drawing from each
    row's whole distribution (torch.multinomial, or a running sum) reads V entries several times per
    row. Exact: P(token) = P(its block) · P(token | block)."""
    nodes, size = probs.shape
    blocks = -(-size // BLOCK)
    if blocks * BLOCK != size:
        probs = torch.nn.functional.pad(probs, (0, blocks * BLOCK - size))
    probs = probs.view(nodes, blocks, BLOCK)
    block = torch.multinomial(probs.sum(-1)[node], 1, generator=generator)[:, 0]
    within = torch.multinomial(probs[node, block], 1, generator=generator)[:, 0]
    return block * BLOCK + within


class Continuations:
    """The rows drawn for one prompt: their tokens and log q so far, and the rows still drawing as
    a token tree: rows that have drawn the same tokens are one node, since what follows them has one
    distribution (each row still draws its own next token from it)."""

    def __init__(self, policy: DraftPolicy, n: int, logits: torch.Tensor, alike: bool):
        self.policy, self.length, self.alike = policy, len(policy.context), alike
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.log_q = torch.zeros(n, dtype=torch.float64)
        self.live = torch.arange(n)                       # the rows still drawing; a stopped row leaves
        self.node = torch.zeros(n, dtype=torch.long)      # each live row's node
        self.logits = logits                              # [nodes, V] what follows each node
        self.columns: list[list[int]] = [[]]              # each node's drawn tokens' columns in the cache
        self.fresh: list[tuple[int, int]] = []            # the nodes of the last draw: (parent node, token)

    def draw(self, generator: torch.Generator | None) -> None:
        """Every live row draws its next token; a row that drew a stop token leaves."""
        policy = self.policy
        weights, log_norm = policy.weights(self.logits)
        drawn = draw_tokens(weights, self.node, generator)
        stops = policy.stop[drawn]
        # a stop ends the list whichever stop token it was: the list's probability sums over them
        stop_weight = weights[:, policy.stop].sum(-1, dtype=torch.float64)[self.node]
        log_weight = torch.where(stops, stop_weight, weights[self.node, drawn].double()).log()
        self.log_q[self.live] += log_weight - log_norm[self.node]
        going = (~stops).nonzero()[:, 0]
        fresh: dict[tuple[int, int, int], int] = {}
        nodes = []
        for row, node, token in zip(self.live[going].tolist(), self.node[going].tolist(), drawn[going].tolist()):
            self.tokens[row].append(token)
            nodes.append(fresh.setdefault((node, token, -1 if self.alike else row), len(fresh)))
        self.live, self.node = self.live[going], torch.tensor(nodes, dtype=torch.long)
        self.fresh = [(node, token) for node, token, _ in fresh]

    def place(self, width: int) -> list[list[int]]:
        """Put the fresh nodes at cache columns width, width + 1, …: the columns each one attends to."""
        self.columns = [self.columns[parent] + [width + k] for k, (parent, _) in enumerate(self.fresh)]
        return self.columns


@torch.inference_mode()
def draw(model, device: torch.device, openings: Openings, policies: Sequence[DraftPolicy], n: int,
         generators: Sequence, stats: Stats, alike: bool = True) -> list[Continuations]:
    """`n` rows for each policy's prompt, all prompts in the same forwards; `alike=False` gives every
    row a node of its own (the plain reference, for benchmarks)."""
    first = policies[0]
    contexts = [p.context for p in policies]
    opening = first.opening if all(p.opening == first.opening and p.context[:first.opening] == contexts[0][:first.opening]
                                   for p in policies) else 0
    cache, logits = run_prompts(model, contexts, opening, device, openings, stats)
    cache, seen = laid_end_to_end(cache, list(map(len, contexts)), opening)
    cache = growing(cache)
    prompts = [Continuations(p, n, last[None], alike) for p, last in zip(policies, logits)]
    for step_index in range(first.max_new_tokens):
        for rows, generator in zip(prompts, generators):
            if len(rows.live):
                rows.draw(generator)
        active = [k for k, rows in enumerate(prompts) if rows.fresh]
        if step_index == first.max_new_tokens - 1 or not active:
            break
        counts = [len(prompts[k].fresh) for k in active]
        starts = [sum(counts[:i]) for i in range(len(active))]           # each prompt's nodes, end to end
        width, total = cache.get_seq_length(), sum(counts)
        ids = torch.tensor([[token for k in active for _, token in prompts[k].fresh]])
        positions = torch.tensor([[prompts[k].length + step_index for k, count in zip(active, counts)
                                   for _ in range(count)]])
        allowed = torch.zeros((total, width + total), dtype=torch.bool)
        where: list[tuple[int, int]] = []
        for k, start, count in zip(active, starts, counts):
            for left, right in seen[k]:                                # its prompt's columns
                allowed[start:start + count, left:right] = True
            where += [(start + node, col) for node, cols in enumerate(prompts[k].place(width + start)) for col in cols]
        at = torch.tensor(where, dtype=torch.long)
        allowed[at[:, 0], at[:, 1]] = True
        stats.count(total)
        cache, logits = _step(model, ids.to(device), positions.to(device), allowed, cache)
        for k, rows_logits in zip(active, logits.split(counts)):
            prompts[k].logits = rows_logits
    return prompts


def _step(model, ids: torch.Tensor, positions: torch.Tensor, allowed: torch.Tensor, cache):
    """One forward of the draft nodes, all prompts' laid end to end in one row (no padding), each
    attending to the opening the prompts share at once and to its own prompt's and row's tokens:
    the cache after it and the logits at every node."""
    mask = additive_mask(allowed, next(model.parameters()).dtype, ids.device)
    out = model(input_ids=ids, **with_cache(model, cache), use_cache=True, position_ids=positions, attention_mask=mask,
                **gathered_for(model, allowed, ids.device))
    return returned_cache(out), out.logits[0]
