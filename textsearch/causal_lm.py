"""Batched scoring with a causal language model.

Every item is scored after a start token (BOS, or EOS where the tokenizer has no
BOS, as GPT-2 does), so the first token of a sentence gets a probability too. Items
of different lengths are right-padded into one forward pass; with right padding a
real token only ever attends to real tokens before it, so its score does not depend
on what else is in the batch.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .packing import forward_overhead, pack
from .prefix_cache import Scored, plan_reuse, run_prefixes, score_suffixes, suffix_widths
from .sentence_store import SentenceStore, captured_hidden, head_reads_hidden, stacked_cache
from .sequences import pad
from .token_model import TokenModel


class CausalLM(TokenModel):
    """A Hugging Face causal LM that scores many token sequences at once."""

    def __init__(self, model, tokenizer, device=None, token_budget: int | None = None):
        super().__init__(model, tokenizer, device, token_budget)
        self.bos_id: int | None = tokenizer.bos_token_id
        self.eos_id: int | None = tokenizer.eos_token_id
        start = self.bos_id if self.bos_id is not None else self.eos_id
        if start is None:
            raise ValueError("the tokenizer has neither a BOS nor an EOS token to score the first "
                             "token after; set tokenizer.bos_token before wrapping the model")
        self.start_id: int = start
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else start
        self.prefix_reuse = True        # run prefixes that rows share once (prefix_cache); False: plain forwards
        self.forward_overhead = forward_overhead(self.device)     # tokens' worth of one pass (packing)
        # scored rows and prefixes with their states, inside `keeping_states` (where the logits are the LM head's alone)
        self.can_keep = head_reads_hidden(self.model, self.start_id, self.device)
        self.store: SentenceStore | None = None

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
    def keeping_states(self) -> Iterator[None]:
        """Within the block (a sampler run), scored sentences and asked prefixes keep their states
        (`sentence_store`): a step's slot distributions then need no forward and its candidates only
        their suffixes. The block starts empty, so a run's scores never depend on what was scored
        before it (same seed, same numbers); nested blocks share the outer one."""
        if not self.can_keep or self.store is not None:
            yield
            return
        self.store = SentenceStore(self.model)
        try:
            yield
        finally:
            self.store = None

    @property
    def _keeps(self) -> bool:
        return self.prefix_reuse and self.store is not None

    @torch.inference_mode()
    def _after(self, rows: list[list[int]]) -> torch.Tensor:
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        held = [i for i, r in enumerate(rows) if self._keeps and self.store.holds(r)]
        if held:
            last[held] = self.store.after([rows[i] for i in held]).cpu()
        todo = sorted(set(range(len(rows))) - set(held))
        for chunk in pack([len(rows[i]) for i in todo], self.token_budget, self.forward_overhead):
            chunk = [todo[i] for i in chunk]
            states = run_prefixes(self.model, [rows[i] for i in chunk], self.pad_id, self.device)
            last[chunk] = states.after[[states.index[tuple(rows[i])] for i in chunk]].cpu()
            if self._keeps:
                prefixes = list(states.index)
                self.store.add(prefixes, states.kv, states.hidden, [torch.arange(len(p)) for p in prefixes],
                               [lp[: len(p) - 1] for lp, p in zip(states.token_lp.double().cpu(), prefixes)])
        return last

    @torch.inference_mode()
    def _score(self, sequences: list[list[int]], with_last: bool = True
               ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Per-token log-probs of each sequence and (if asked: [n, V] leaves the device) the next-token
        log-softmax after it. A sequence given twice is scored once."""
        distinct = {tuple(seq): None for seq in sequences}
        if len(distinct) < len(sequences):
            distinct = {seq: i for i, seq in enumerate(distinct)}
            token_lp, last = self._score([list(seq) for seq in distinct], with_last)
            at = [distinct[tuple(seq)] for seq in sequences]
            return [token_lp[i] for i in at], None if last is None else last[at]
        rows = [[self.start_id] + seq for seq in sequences]
        token_lp: list[torch.Tensor] = [torch.zeros(0)] * len(rows)
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32) if with_last else None
        kept = [i for i, r in enumerate(rows) if self._keeps and self.store.has(r)]     # scored before: no forward
        for i in kept:
            token_lp[i] = self.store.token_lp(rows[i])
        if kept and with_last:
            last[kept] = self.store.after([rows[i] for i in kept]).cpu()
        todo = sorted(set(range(len(rows))) - set(kept))
        rows_todo = [rows[i] for i in todo]
        held = [self.store.longest_prefix(r) for r in rows_todo] if self._keeps else [None]
        prefix = held if None not in held else plan_reuse(rows_todo, self.forward_overhead) if self.prefix_reuse else None
        widths = [len(r) for r in rows_todo] if prefix is None else suffix_widths(rows_todo, prefix)
        pinned = self.store.holders_of([r[:p] for r, p in zip(rows_todo, held)]) if None not in held else frozenset()
        for chunk in pack(widths, self.token_budget, self.forward_overhead):
            chunk_rows = [rows_todo[i] for i in chunk]
            if prefix is None:
                scored = self._forward(chunk_rows, with_last)
            else:
                lengths = [prefix[i] for i in chunk]
                source = self.store if None not in held else \
                    run_prefixes(self.model, [r[:p] for r, p in zip(chunk_rows, lengths)], self.pad_id, self.device)
                scored = score_suffixes(self.model, source.gather(chunk_rows, lengths), chunk_rows, lengths,
                                        self.pad_id, self.device, with_last)
            if self._keeps:
                self.store.add(chunk_rows, scored.kv, scored.hidden, scored.columns, scored.token_lp, pinned)
            chunk = [todo[i] for i in chunk]
            if with_last:
                last[chunk] = scored.last
            for i, lp in zip(chunk, scored.token_lp):
                token_lp[i] = lp
        return token_lp, last

    def _forward(self, rows: list[list[int]], with_last: bool = True) -> Scored:
        """One padded forward: log p of each row's tokens after the first, and the last-position log-softmax."""
        ids, mask = pad(rows, self.pad_id, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with captured_hidden(self.model) as hidden:
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=self._keeps)
        logits = out.logits.float()
        log_norm = logits.logsumexp(-1)                                            # [n, L]
        target_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
        lengths = mask.sum(-1)
        end = (torch.arange(len(rows), device=self.device), lengths - 1)
        last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None
        target_lp = target_lp.double().cpu()
        kv = stacked_cache(out.past_key_values) if self._keeps else None
        return Scored([target_lp[i, : n - 1] for i, n in enumerate(lengths.tolist())], last, kv, hidden[0],
                      [torch.arange(len(r)) for r in rows])
