"""Batched scoring and drawing with a causal language model.

Every item is scored after a start token (BOS, or EOS where the tokenizer has no
BOS, as GPT-2 does), so the first token of a sentence gets a probability too. Items run
as token trees (`tree`): every distinct prefix once, each token attending to its own
row's tokens only, so a score does not depend on what else is in the batch. With
`token_trees=False` they run right-padded, each row whole (the plain reference).

Within a `session` (a sampler run), scored rows keep their states (`store`), so the
next step's slot distributions need no forward and its candidates run only from their
slot on. Within `taking_turns`, several searches' calls run as one (`lockstep`).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

from . import attention, drafting
from .base import BaseLM, pad
from .head import head_reads_hidden
from .lockstep import Lockstep
from .packing import forward_overhead, pack
from .prompts import Openings
from .store import Layout, SentenceStore, store_bytes
from .tree import TREE_TOKENS, run_tree, tree_chunks


class CausalLM(BaseLM):
    """A Hugging Face causal LM that scores and extends many token sequences at once.

    Parameters
    ----------
    model, tokenizer
        A Hugging Face causal LM and its tokenizer (with a BOS or an EOS token to score after).
    device
        `"auto"` (CUDA when present), a device, or None (where the model already is).
    token_budget
        Tokens per forward at most. None: about 256 MB of logits for padded forwards, and at
        most 512 nodes per token tree (attention grows with their square); given, both use it.
    cpu_kernels
        Run the model's attention by blocks of the token tree and, on CPUs other than Intel's,
        its linear layers through oneDNN (`attention`, `cpu`): 1.7-1.9× faster there, the same
        numbers up to float rounding. It changes the model in place, so `load_lm` turns it on for the
        copy it loads, and a model you pass in is left as it is unless you ask.
    token_trees
        Score rows as token trees, kept states reused (True), or each row whole in padded
        forwards and every drafted row as its own node (False: the plain reference).
    """

    def __init__(self, model, tokenizer, device=None, token_budget: int | None = None,
                 cpu_kernels: bool = False, token_trees: bool = True):
        super().__init__(model, tokenizer, device, token_budget, cpu_kernels)
        if cpu_kernels:
            attention.enable(self.model)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.eos_id: int | None = tokenizer.eos_token_id
        start = self.bos_id if self.bos_id is not None else self.eos_id
        if start is None:
            raise ValueError("the tokenizer has neither a BOS nor an EOS token to score the first "
                             "token after; set tokenizer.bos_token before wrapping the model")
        self.start_id: int = start
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
        self.token_trees = token_trees
        self.tree_tokens = int(token_budget) if token_budget is not None else min(self.token_budget, TREE_TOKENS)
        self.forward_overhead = forward_overhead(self.device)     # tokens' worth of one pass (packing, plain path)
        self.openings = Openings()                                  # the cache of the last prompt opening drawn after
        # rows keep their states inside `session` only where the logits are the LM head's alone
        self.can_keep = head_reads_hidden(self.model, self.start_id, self.device)
        self.layout: Layout | None = None           # of the states a session keeps, read at the first one
        self.store: SentenceStore | None = None
        self.turns: Lockstep | None = None          # searches that take turns and score together

    def log_prob(self, items, context: str | Sequence[int] | None = None) -> torch.Tensor:
        """Total log p of each item [n] (float64, CPU), first token included, after `context` if given."""
        per_token = self.token_log_probs(items, context)
        return torch.stack([lp.sum() for lp in per_token]) if per_token else torch.zeros(0, dtype=torch.float64)

    def token_log_probs(self, items, context: str | Sequence[int] | None = None) -> list[torch.Tensor]:
        """log p(x_t | start, context, x_<t) for every token of every item (float64, CPU).

        The context (text, or token ids) is scored with each item but not reported: rows share it
        as the first branch of their token tree, and within a `session` its states are kept, so it
        runs once rather than once per row."""
        opening = self._opening(context)
        token_lp, _ = self._rows_once([opening + seq for seq in self.token_ids(items)], with_last=False)
        return [lp[len(opening) - 1:] for lp in token_lp]

    def next_token_log_probs(self, prefixes, context: str | Sequence[int] | None = None) -> torch.Tensor:
        """log p(· | start, context, prefix) for each prefix [n, V] (float32); a prefix may be empty.

        Within a `session`, prefixes of recently scored rows cost no forward and the others'
        states are kept, so scoring sentences that extend them (a proposal's candidates) runs only
        what follows."""
        opening = self._opening(context)
        return self._after([opening + seq for seq in self.token_ids(prefixes)])

    def _opening(self, context: str | Sequence[int] | None) -> list[int]:
        """The start token and the context's ids: what every row of a call begins with."""
        if context is None:
            return [self.start_id]
        return [self.start_id] + (self.encode(context) if isinstance(context, str) else self.token_ids([context])[0])

    def draw(self, policies: Sequence[drafting.DraftPolicy], n: int, generators: Sequence[torch.Generator | None]
             ) -> list[tuple[list[list[int]], torch.Tensor]]:
        """`n` continuations of each policy's prompt and their log q, every prompt's rows in the same
        forwards (`drafting`)."""
        drawn = drafting.draw(self.model, self.device, self.openings, policies, n, generators, self.stats,
                              alike=self.token_trees)
        return [(rows.tokens, rows.log_q) for rows in drawn]

    @contextmanager
    def session(self, searches: int = 1) -> Iterator[None]:
        """Within the block (a sampler run, or `searches` runs taking turns), scored sentences and asked
        prefixes keep their states (`store`): a step's slot distributions then need no forward and its
        candidates only their suffixes. The block starts empty, so a run's scores never depend on what
        was scored before it (same seed, same numbers); nested blocks share the outer one."""
        if not self.can_keep or not self.token_trees or self.store is not None:
            yield
            return
        if self.layout is None:
            self.layout = Layout.of(self.model, self.start_id, self.device)
        self.store = SentenceStore(self.model, self.layout, store_bytes(searches))
        try:
            yield
        finally:
            self.store = None

    @contextmanager
    def taking_turns(self) -> Iterator[Lockstep]:
        """Within the block, `turns.run(functions)` runs each function (a search) in turns with the others,
        and what they score in a turn runs as one batch (`lockstep`)."""
        previous, self.turns = self.turns, Lockstep(self._together, first=lambda request: request[0] == "after")
        try:
            yield self.turns
        finally:
            self.turns = previous

    @torch.inference_mode()
    def _after(self, rows: list[list[int]]) -> torch.Tensor:
        """log p(· | row) [n, V] of rows that begin with the start token. A search that takes turns with
        others asks with theirs: the LM head then reads its weight once for all of them."""
        if self.turns is not None and self.turns.inside():
            return self.turns.ask(("after", rows, None))
        held = [i for i, r in enumerate(rows) if self.store is not None and self.store.holds(r)]
        if not held:                                          # [n, V] is tens of MB: no copy of it
            return self._rows_once(rows, with_last=True)[1]
        if len(held) == len(rows):
            return self.store.after(rows).cpu()
        last = torch.empty((len(rows), self.vocab_size), dtype=torch.float32)
        last[held] = self.store.after([rows[i] for i in held]).cpu()
        todo = sorted(set(range(len(rows))) - set(held))
        last[todo] = self._rows_once([rows[i] for i in todo], with_last=True)[1]
        return last

    def _rows_once(self, rows: list[list[int]], with_last: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """`_rows` of rows that may repeat: each distinct row runs once."""
        distinct = {row: k for k, row in enumerate(dict.fromkeys(tuple(row) for row in rows))}
        token_lp, last = self._rows([list(row) for row in distinct], with_last)
        if len(distinct) == len(rows):
            return token_lp, last
        at = [distinct[tuple(row)] for row in rows]
        return [token_lp[k] for k in at], None if last is None else last[at]

    def _together(self, requests: list[tuple[str, list[list[int]], bool | None]]) -> list:
        """The answers to several searches' `_after` and `_rows` calls: all the distributions after
        prefixes in one call, all the rows in another (in two when some ask for the distribution
        after their rows and some do not)."""
        answers: list = [None] * len(requests)
        for key in (("after", None), ("rows", False), ("rows", True)):
            asked = [i for i, (kind, _, with_last) in enumerate(requests) if (kind, with_last) == key]
            if not asked:
                continue
            rows = [row for i in asked for row in requests[i][1]]
            after = key[0] == "after"
            token_lp, last = (None, self._after(rows)) if after else self._rows_once(rows, with_last=key[1])
            start = 0
            for i in asked:
                end = start + len(requests[i][1])
                answers[i] = last[start:end] if after else (token_lp[start:end], None if last is None else last[start:end])
                start = end
        return answers

    @torch.inference_mode()
    def _rows(self, rows: list[list[int]], with_last: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Per-token log-probs of distinct rows that begin with the start token and (`with_last`: [n, V]
        leaves the device) the next-token log-softmax after each: kept rows cost nothing, the others
        run as token trees (from their kept beginnings), or padded without token trees. A search that
        takes turns with others (`taking_turns`) waits for theirs, to run with them."""
        if self.turns is not None and self.turns.inside():
            return self.turns.ask(("rows", rows, with_last))
        store = self.store
        token_lp: list[torch.Tensor] = [torch.zeros(0)] * len(rows)
        last = torch.empty((len(rows), self.vocab_size), dtype=torch.float32) if with_last else None
        kept = [i for i, r in enumerate(rows) if store is not None and store.has(r, with_last)]     # no forward
        for i in kept:
            token_lp[i] = store.token_lp(rows[i])
        if kept and with_last:
            last[kept] = store.after([rows[i] for i in kept]).cpu()
        todo = sorted(set(range(len(rows))) - set(kept))
        held = None
        if store is not None:
            held = [store.past_length(rows[i]) for i in todo]
            store.touch([rows[i] for i in todo], held)
        if self.token_trees:
            chunks = tree_chunks([rows[i] for i in todo], self.tree_tokens, held, with_last)
        else:
            chunks = pack([len(rows[i]) for i in todo], self.token_budget, self.forward_overhead)
        for chunk in chunks:
            chunk_rows = [rows[todo[i]] for i in chunk]
            if self.token_trees:
                past = store.past(chunk_rows) if store is not None else None
                scored = run_tree(self.model, chunk_rows, past, self.device, self.stats, with_last,
                                  head_reads_hidden=self.can_keep)
                if store is not None:
                    store.add(chunk_rows, scored.columns, scored.token_lp, scored.width)
                chunk_lp, chunk_last = scored.token_lp, scored.last
            else:
                chunk_lp, chunk_last = self._padded(chunk_rows, with_last)
            chunk = [todo[i] for i in chunk]
            if with_last:
                last[chunk] = chunk_last
            for i, lp in zip(chunk, chunk_lp):
                token_lp[i] = lp
        return token_lp, last

    def _padded(self, rows: list[list[int]], with_last: bool = True) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """One padded forward (the plain path): log p of each row's tokens after the first, and the
        last-position log-softmax."""
        ids, mask = pad(rows, self.pad_id, self.device)
        self.stats.count(ids.numel())
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits.float()
        log_norm = logits.logsumexp(-1)                                            # [n, L]
        target_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
        lengths = mask.sum(-1)
        end = (torch.arange(len(rows), device=self.device), lengths - 1)
        last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None
        target_lp = target_lp.double().cpu()
        return [target_lp[i, : n - 1] for i, n in enumerate(lengths.tolist())], last
