"""Continuations drawn from a causal LM, with their exact probability, for rejection and importance sampling.

The prompt runs through the model once (only its tail when its `opening` has run
before: prompt_cache), and every row continues from that one key/value cache: the
rows' tokens are laid end to end after the prompt as a token tree (`token_tree`),
rows that drew the same tokens so far sharing one node, each node attending to the
prompt and its own row's tokens. So each new token costs one step of the cached
model, a prefix that several rows drew runs once, and the prompt's cache is never
copied per row. A row stops at a stop token or after `max_new_tokens`, and leaves,
so the steps after it cost only the rows still drawing. Several prompts draw in the
same forwards (`sample_together`): their caches laid end to end in one row, the
opening once (`laid_end_to_end`), and each step's nodes of every prompt after them,
so no prompt is padded to another's node count; every node attends to the opening in
one product for all and to its own prompt's and row's columns, gathered
(`gathered_attention`), and the cache grows in place (`growing_cache`).

The returned tokens are the continuation without the stop token, and log q is the
probability of exactly that list under this procedure: the product of its tokens'
tempered, top-k-cut probabilities, times the probability of stopping there (the sum
over all stop tokens) when it stopped early. Special tokens other than the stop
tokens are never drawn (their probability goes to the others).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import lru_cache

import torch

from ..block_attention import gathered_for
from ..cache_argument import returned_cache, with_cache
from ..growing_cache import growing
from ..prompt_cache import laid_end_to_end, run_prompts
from ..token_tree import additive_mask
from .base import SequenceDistribution
from .candidates import ordinary_tokens


@lru_cache(maxsize=4)
def token_texts(tokenizer, size: int) -> tuple[str, ...]:
    """The text of each of the first `size` tokens; a large vocabulary takes seconds, so once per tokenizer."""
    return tuple(tokenizer.batch_decode([[i] for i in range(size)]))


@lru_cache(maxsize=16)
def tokens_containing(tokenizer, size: int, texts: tuple[str, ...]) -> torch.Tensor:
    """Which of the first `size` tokens' texts contain any of `texts` [size] bool: a pass over the whole
    vocabulary, so once per tokenizer and texts, not once per sampler (batch mode makes one per set)."""
    return torch.tensor([any(s in d for s in texts) for d in token_texts(tokenizer, size)])


BLOCK = 256     # vocabulary entries per block of a two-stage draw


def draw_tokens(probs: torch.Tensor, node: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row, from its node's distribution: row i draws from probs[node[i]] ([nodes, V],
    unnormalised). A block of the vocabulary is drawn by its mass, then a token within it, so each
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


class LMSampler(SequenceDistribution):
    """Draws continuations of `prompt` (or of nothing) from a CausalLM at a temperature, optionally top-k.

    `stop_at`: token ids, or strings that stop at any token whose text contains them;
    the EOS token always stops. `chat=True` wraps the prompt in the tokenizer's chat
    template as a user turn (for instruct models such as the built-in SmolLM2).
    `opening`: the beginning of a text prompt that other prompts share (a few-shot
    template); its key/value cache is kept, so the next sampler with the same opening
    runs only the rest of its prompt.
    """

    def __init__(self, lm, prompt: str | Sequence[int] | None = None, max_new_tokens: int = 32,
                 temperature: float = 1.0, top_k: int | None = None,
                 stop_at: Iterable[int | str] = ("\n",), chat: bool = False, batch_size: int = 64,
                 opening: str | None = None):
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lm, self.tokenizer = lm, lm.tokenizer
        self.max_new_tokens, self.temperature, self.top_k, self.batch_size = max_new_tokens, float(temperature), top_k, batch_size
        self.context = self._context(prompt, chat)
        self.opening = self._opening(opening, chat)
        self.stop = self._stop_mask(stop_at)
        self.allowed = ordinary_tokens(lm) | self.stop

    def _context(self, prompt, chat: bool) -> list[int]:
        if chat:
            if not isinstance(prompt, str) or not getattr(self.tokenizer, "chat_template", None):
                raise ValueError("chat=True needs a text prompt and a tokenizer with a chat template")
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                     add_generation_prompt=True, tokenize=False)
            return self.tokenizer(ids, add_special_tokens=False)["input_ids"]
        ids = [] if prompt is None else self.lm.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        return [self.lm.start_id] + ids

    def _opening(self, opening: str | None, chat: bool) -> int:
        """How many context tokens the opening covers (0: none, or it does not tokenize as the prompt's start)."""
        if opening is None:
            return 0
        if chat:
            raise ValueError("opening= works with plain text prompts, not with chat=True")
        ids = [self.lm.start_id] + self.lm.encode(opening)
        return len(ids) if len(ids) < len(self.context) and self.context[:len(ids)] == ids else 0

    def _stop_mask(self, stop_at: Iterable[int | str]) -> torch.Tensor:
        stop = torch.zeros(self.lm.vocab_size, dtype=torch.bool)
        if self.lm.eos_id is not None:
            stop[self.lm.eos_id] = True
        stop_at = list(stop_at)
        texts = tuple(s for s in stop_at if isinstance(s, str))
        for token in stop_at:
            if not isinstance(token, str):
                stop[int(token)] = True
        if texts:
            size = min(self.lm.vocab_size, len(self.tokenizer))
            stop[:size] |= tokens_containing(self.tokenizer, size, texts)
        return stop

    def weights(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(next token) up to a factor per row, from logits [n, V]: specials (bar stops) removed, tempered,
        top-k cut; and the log of that factor. So log q = log weight − log norm ([n, V] float32 and [n]
        float64, CPU): the [n, V] work runs in float32, in place, and only sums are taken in float64."""
        scaled = logits.float().cpu().masked_fill(~self.allowed, -math.inf).div_(self.temperature)
        if self.top_k is not None and self.top_k < scaled.shape[-1]:
            keep = scaled.topk(self.top_k, dim=-1).indices
            scaled = torch.full_like(scaled, -math.inf).scatter_(-1, keep, scaled.gather(-1, keep))
        weights = scaled.sub_(scaled.amax(-1, keepdim=True)).exp_()
        return weights, weights.sum(-1, dtype=torch.float64).log()

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[list[list[int]], torch.Tensor]:
        return sample_together([self], n, [generator])[0]


def sample_together(samplers: Sequence[LMSampler], n: int, generators: Sequence[torch.Generator | None]
                    ) -> list[tuple[list[list[int]], torch.Tensor]]:
    """`n` continuations of each sampler's prompt, as `sampler.sample(n, generator)` draws them, with
    every prompt's rows in the same forwards, laid end to end. A few dozen rows leave a forward
    mostly its fixed cost; several prompts fill it. The samplers may differ in
    their prompts only."""
    first = samplers[0]
    if len(generators) != len(samplers):
        raise ValueError(f"give one generator per sampler: {len(generators)} for {len(samplers)}")
    settings = lambda s: (s.lm, s.max_new_tokens, s.temperature, s.top_k, s.batch_size)
    if any(settings(s) != settings(first) or not torch.equal(s.stop, first.stop) for s in samplers):
        raise ValueError("samplers drawn together must share the model and every setting but the prompt")
    tokens: list[list[list[int]]] = [[] for _ in samplers]
    log_q: list[list[torch.Tensor]] = [[] for _ in samplers]
    for start in range(0, n, first.batch_size):
        for k, rows in enumerate(_draw(samplers, min(first.batch_size, n - start), generators)):
            tokens[k] += rows.tokens
            log_q[k].append(rows.log_q)
    return [(t, torch.cat(q) if q else torch.zeros(0, dtype=torch.float64)) for t, q in zip(tokens, log_q)]


class Continuations:
    """The rows drawn for one prompt: their tokens and log q so far, and the rows still drawing as
    a token tree: rows that have drawn the same tokens are one node, since what follows them has one
    distribution (each row still draws its own next token from it)."""

    def __init__(self, sampler: LMSampler, n: int, logits: torch.Tensor):
        self.sampler, self.length = sampler, len(sampler.context)
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.log_q = torch.zeros(n, dtype=torch.float64)
        self.live = torch.arange(n)                       # the rows still drawing; a stopped row leaves
        self.node = torch.zeros(n, dtype=torch.long)      # each live row's node
        self.logits = logits                              # [nodes, V] what follows each node
        self.columns: list[list[int]] = [[]]              # each node's drawn tokens' columns in the cache
        self.fresh: list[tuple[int, int]] = []            # the nodes of the last draw: (parent node, token)

    def draw(self, generator: torch.Generator | None) -> None:
        """Every live row draws its next token; a row that drew a stop token leaves."""
        sampler = self.sampler
        weights, log_norm = sampler.weights(self.logits)
        drawn = draw_tokens(weights, self.node, generator)
        stops = sampler.stop[drawn]
        # a stop ends the list whichever stop token it was: the list's probability sums over them
        stop_weight = weights[:, sampler.stop].sum(-1, dtype=torch.float64)[self.node]
        log_weight = torch.where(stops, stop_weight, weights[self.node, drawn].double()).log()
        self.log_q[self.live] += log_weight - log_norm[self.node]
        going = (~stops).nonzero()[:, 0]
        fresh: dict[tuple[int, int, int], int] = {}
        nodes = []
        alike = sampler.lm.prefix_reuse                    # off: every row its own node (the plain reference)
        for row, node, token in zip(self.live[going].tolist(), self.node[going].tolist(), drawn[going].tolist()):
            self.tokens[row].append(token)
            nodes.append(fresh.setdefault((node, token, -1 if alike else row), len(fresh)))
        self.live, self.node = self.live[going], torch.tensor(nodes, dtype=torch.long)
        self.fresh = [(node, token) for node, token, _ in fresh]

    def place(self, width: int) -> list[list[int]]:
        """Put the fresh nodes at cache columns width, width + 1, …: the columns each one attends to."""
        self.columns = [self.columns[parent] + [width + k] for k, (parent, _) in enumerate(self.fresh)]
        return self.columns


@torch.inference_mode()
def _draw(samplers: Sequence[LMSampler], n: int, generators) -> list[Continuations]:
    first = samplers[0]
    model, device = first.lm.model, first.lm.device
    contexts = [s.context for s in samplers]
    opening = first.opening if all(s.opening == first.opening and s.context[:first.opening] == contexts[0][:first.opening]
                                   for s in samplers) else 0
    cache, logits = run_prompts(model, contexts, opening, device)
    cache, seen = laid_end_to_end(cache, list(map(len, contexts)), opening)
    cache = growing(cache)
    prompts = [Continuations(s, n, last[None]) for s, last in zip(samplers, logits)]
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
        cache, logits = _step(model, ids.to(device), positions.to(device), allowed, cache)
        for k, rows_logits in zip(active, logits.split(counts)):
            prompts[k].logits = rows_logits
    return prompts


def _step(model, ids: torch.Tensor, positions: torch.Tensor, allowed: torch.Tensor, cache):
    """One forward of the draft nodes, all prompts' laid end to end in one row (no padding), each
    attending to the opening the prompts share at once and to its own prompt's and row's tokens
    (`gathered_attention`): the cache after it and the logits at every node."""
    mask = additive_mask(allowed, next(model.parameters()).dtype, ids.device)
    out = model(input_ids=ids, **with_cache(model, cache), use_cache=True, position_ids=positions, attention_mask=mask,
                **gathered_for(model, allowed, ids.device))
    return returned_cache(out), out.logits[0]
