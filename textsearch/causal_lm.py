"""Batched scoring with a causal language model.

Every item is scored after a start token (BOS, or EOS where the tokenizer has no
BOS, as GPT-2 does), so the first token of a sentence gets a probability too. Items
of different lengths are right-padded into one forward pass; with right padding a
real token only ever attends to real tokens before it, so its score does not depend
on what else is in the batch.
"""
from __future__ import annotations

import torch

from .packing import forward_overhead, pack
from .prefix_cache import PrefixStates, plan_reuse, run_prefixes, score_suffixes, suffix_widths
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
        self._recent: PrefixStates | None = None   # the last next_token_logits prefixes, cache included

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

        The prefixes' key/value cache is kept until the next call, so scoring sentences that
        extend them (a proposal's candidates) runs only what follows each prefix."""
        return self._after([[self.start_id] + seq for seq in self._token_ids(prefixes)])

    @torch.inference_mode()
    def _after(self, rows: list[list[int]]) -> torch.Tensor:
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        chunks = pack([len(r) for r in rows], self.token_budget, self.forward_overhead)
        self._recent = None
        for chunk in chunks:
            states = run_prefixes(self.model, [rows[i] for i in chunk], self.pad_id, self.device)
            last[chunk] = states.after[[states.index[tuple(rows[i])] for i in chunk]].cpu()
        if len(chunks) == 1 and self.prefix_reuse:
            self._recent = states
        return last

    @torch.inference_mode()
    def _score(self, sequences: list[list[int]], with_last: bool = True
               ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Per-token log-probs of each sequence and (if asked: [n, V] leaves the device) the next-token
        log-softmax after it."""
        rows = [[self.start_id] + seq for seq in sequences]
        token_lp: list[torch.Tensor] = [torch.zeros(0)] * len(rows)
        last = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32) if with_last else None
        prefix = plan_reuse(rows, self.forward_overhead, self._recent) if self.prefix_reuse else None
        widths = [len(r) for r in rows] if prefix is None else suffix_widths(rows, prefix)
        for chunk in pack(widths, self.token_budget, self.forward_overhead):
            chunk_rows = [rows[i] for i in chunk]
            if prefix is None:
                chunk_lp, chunk_last = self._forward(chunk_rows, with_last)
            else:
                lengths = [prefix[i] for i in chunk]
                chunk_lp, chunk_last = score_suffixes(self.model, self._prefix_states(chunk_rows, lengths), chunk_rows,
                                                      lengths, self.pad_id, self.device, with_last)
            if with_last:
                last[chunk] = chunk_last
            for i, lp in zip(chunk, chunk_lp):
                token_lp[i] = lp
        return token_lp, last

    def _prefix_states(self, rows: list[list[int]], lengths: list[int]) -> PrefixStates:
        """The kept states of the last next_token_logits call if they hold these prefixes; else a forward."""
        prefixes = [tuple(r[:p]) for r, p in zip(rows, lengths)]
        if self._recent is not None and self._recent.knows(prefixes):
            return self._recent
        return run_prefixes(self.model, prefixes, self.pad_id, self.device)

    def _forward(self, rows: list[list[int]], with_last: bool = True) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """One padded forward: log p of each row's tokens after the first, and the last-position log-softmax."""
        ids, mask = pad(rows, self.pad_id, self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                            use_cache=False).logits.float()
        log_norm = logits.logsumexp(-1)                                            # [n, L]
        target_lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - log_norm[:, :-1]
        lengths = mask.sum(-1)
        end = (torch.arange(len(rows), device=self.device), lengths - 1)
        last = (logits[end] - log_norm[end][:, None]).cpu() if with_last else None
        target_lp = target_lp.double().cpu()
        return [target_lp[i, : n - 1] for i, n in enumerate(lengths.tolist())], last
