"""Batched scoring with a causal language model.

Every item is scored after a start token (BOS, or EOS where the tokenizer has no
BOS, as GPT-2 does), so the first token of a sentence gets a probability too. Items run
as token trees (`token_tree`): every distinct prefix once, each token attending to its
own row's tokens only, so a score does not depend on what else is in the batch. With
`prefix_reuse` off they run right-padded, each row whole (the plain reference).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .block_attention import use_block_attention
from .lockstep import Lockstep
from .packing import forward_overhead, pack
from .sentence_store import SentenceStore, head_reads_hidden, store_bytes
from .sequences import pad
from .token_model import TokenModel
from .token_tree import TREE_TOKENS, run_tree, tree_chunks


class CausalLM(TokenModel):
    """A Hugging Face causal LM that scores many token sequences at once."""

    def __init__(self, model, tokenizer, device=None, token_budget: int | None = None):
        super().__init__(model, tokenizer, device, token_budget)
        use_block_attention(self.model)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.eos_id: int | None = tokenizer.eos_token_id
        start = self.bos_id if self.bos_id is not None else self.eos_id
        if start is None:
            raise ValueError("the tokenizer has neither a BOS nor an EOS token to score the first "
                             "token after; set tokenizer.bos_token before wrapping the model")
        self.start_id: int = start
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
        self.prefix_reuse = True        # rows as token trees; False: plain padded forwards, a draft row per node
        self.forward_overhead = forward_overhead(self.device)     # tokens' worth of one pass (packing, plain path)
        # scored rows and prefixes with their states, inside `keeping_states` (where the logits are the LM head's alone)
        self.can_keep = head_reads_hidden(self.model, self.start_id, self.device)
        self.store: SentenceStore | None = None
        self.turns: Lockstep | None = None          # searches that take turns and score together

    def log_prob(self, items) -> torch.Tensor:
        """Total log p of each item [n] (float64, CPU), first token included."""
        per_token = self.token_log_probs(items)
        return torch.stack([lp.sum() for lp in per_token]) if per_token else torch.zeros(0, dtype=torch.float64)

    def token_log_probs(self, items) -> list[torch.Tensor]:
        """log p(x_t | start, x_<t) for every token of every item (float64, CPU)."""
        token_lp, _ = self._score(self._token_ids(items), with_last=False)
        return token_lp

    def next_token_logits(self, prefixes) -> torch.Tensor:
        """log p(· | start, prefix) for each prefix [n, V] (float32); a prefix may be empty.

        Within `keeping_states`, prefixes of recently scored rows cost no forward and the others'
        states are kept, so scoring sentences that extend them (a proposal's candidates) runs only
        what follows."""
        return self._after([[self.start_id] + seq for seq in self._token_ids(prefixes)])

    @contextmanager
    def keeping_states(self, searches: int = 1) -> Iterator[None]:
        """Within the block (a sampler run, or `searches` runs taking turns), scored sentences and asked
        prefixes keep their states (`sentence_store`): a step's slot distributions then need no forward
        and its candidates only their suffixes. The block starts empty, so a run's scores never depend
        on what was scored before it (same seed, same numbers); nested blocks share the outer one."""
        if not self.can_keep or self.store is not None:
            yield
            return
        self.store = SentenceStore(self.model, store_bytes(searches))
        try:
            yield
        finally:
            self.store = None

    @property
    def _keeps(self) -> bool:
        return self.prefix_reuse and self.store is not None

    @torch.inference_mode()
    def _after(self, rows: list[list[int]]) -> torch.Tensor:
        """log p(· | row) [n, V] of rows that begin with the start token. A search that takes turns with
        others asks with theirs: the LM head then reads its weight once for all of them."""
        if self.turns is not None and self.turns.inside():
            return self.turns.ask(("after", rows, None))
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        held = [i for i, r in enumerate(rows) if self._keeps and self.store.holds(r)]
        if held:
            last[held] = self.store.after([rows[i] for i in held]).cpu()
        todo = sorted(set(range(len(rows))) - set(held))
        if todo:
            last[todo] = self._rows([rows[i] for i in todo], with_last=True)[1]
        return last

    def _score(self, sequences: list[list[int]], with_last: bool = True
               ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Per-token log-probs of each sequence and (if asked: [n, V] leaves the device) the next-token
        log-softmax after it. A sequence given twice is scored once."""
        return self._rows_once([[self.start_id, *seq] for seq in sequences], with_last)

    def _rows_once(self, rows: list[list[int]], with_last: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """`_rows` of rows that may repeat: each distinct row runs once."""
        distinct = {row: k for k, row in enumerate(dict.fromkeys(tuple(row) for row in rows))}
        token_lp, last = self._rows([list(row) for row in distinct], with_last)
        if len(distinct) == len(rows):
            return token_lp, last
        at = [distinct[tuple(row)] for row in rows]
        return [token_lp[k] for k in at], None if last is None else last[at]

    @contextmanager
    def taking_turns(self) -> Iterator[Lockstep]:
        """Within the block, `turns.run(functions)` runs each function (a search) in turns with the others,
        and what they score in a turn runs as one batch (`lockstep`)."""
        previous, self.turns = self.turns, Lockstep(self._together, first=lambda request: request[0] == "after")
        try:
            yield self.turns
        finally:
            self.turns = previous

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
        """`_score` of distinct rows that begin with the start token: kept rows cost nothing, the others
        run as token trees (from their kept beginnings), or padded when prefix reuse is off. A search
        that takes turns with others (`taking_turns`) waits for theirs, to run with them."""
        if self.turns is not None and self.turns.inside():
            return self.turns.ask(("rows", rows, with_last))
        token_lp: list[torch.Tensor] = [torch.zeros(0)] * len(rows)
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32) if with_last else None
        kept = [i for i, r in enumerate(rows) if self._keeps and self.store.has(r, with_last)]     # scored: no forward
        for i in kept:
            token_lp[i] = self.store.token_lp(rows[i])
        if kept and with_last:
            last[kept] = self.store.after([rows[i] for i in kept]).cpu()
        todo = sorted(set(range(len(rows))) - set(kept))
        if self.prefix_reuse:
            chunks = tree_chunks([rows[i] for i in todo], min(self.token_budget, TREE_TOKENS),
                                 [self.store.past_length(rows[i]) for i in todo] if self._keeps else None, with_last)
        else:
            chunks = pack([len(rows[i]) for i in todo], self.token_budget, self.forward_overhead)
        for chunk in chunks:
            chunk_rows = [rows[todo[i]] for i in chunk]
            if self.prefix_reuse:
                past = self.store.past(chunk_rows) if self._keeps else None
                scored = run_tree(self.model, chunk_rows, past, self.device, with_last, keep=self._keeps,
                                  head_reads_hidden=self.can_keep)
                if self._keeps:
                    self.store.add(chunk_rows, scored.kv, scored.hidden, scored.columns, scored.token_lp)
                chunk_lp, chunk_last = scored.token_lp, scored.last
            else:
                chunk_lp, chunk_last = self._forward(chunk_rows, with_last)
            chunk = [todo[i] for i in chunk]
            if with_last:
                last[chunk] = chunk_last
            for i, lp in zip(chunk, chunk_lp):
                token_lp[i] = lp
        return token_lp, last

    def _forward(self, rows: list[list[int]], with_last: bool = True) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """One padded forward (the plain path): log p of each row's tokens after the first, and the
        last-position log-softmax."""
        ids, mask = pad(rows, self.pad_id, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits.float()
        log_norm = logits.logsumexp(-1)                                            # [n, L]
        target_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
        lengths = mask.sum(-1)
        end = (torch.arange(len(rows), device=self.device), lengths - 1)
        last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None
        target_lp = target_lp.double().cpu()
        return [target_lp[i, : n - 1] for i, n in enumerate(lengths.tolist())], last
