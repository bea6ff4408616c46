"""The LM head read from final hidden states: the next-token distribution, and scored tokens' log p.

A scored sentence needs, at each position, one logit and the log-normaliser over the
vocabulary. Through the model's head that is an [M, V] matrix written out and read
back (200 MB for 1000 positions of SmolLM2's 49k vocabulary), which on a CPU costs a
third of the head's time. Taken a slice of the vocabulary at a time (`target_log_probs`),
each slice's logits stay in cache while their log-sum-exp is taken, and the wanted logit
is a dot product with its token's row of the weight: the same numbers up to float rounding.

Kept hidden states stand in for a forward only when the model's logits are its head of
the hidden states and nothing more (`head_reads_hidden`): no soft-capping or scaling after it.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from .cpu import linear

SLICE = 2048        # vocabulary rows per slice on a CPU (2048 to 4096 run fastest with 2 threads)


@contextmanager
def captured_hidden(model):
    """Records the final hidden states (the decoder's output, what the LM head reads) during a forward:
    [0] after. The head itself may run on some positions only (`logits_to_keep`)."""
    seen: list[torch.Tensor] = []
    handle = model.get_decoder().register_forward_hook(lambda module, args, out: seen.append(out[0]))
    try:
        yield seen
    finally:
        handle.remove()


def head_reads_hidden(model, token: int, device: torch.device) -> bool:
    """Whether the logits are the LM head of the decoder's hidden states and nothing more, so that kept
    hidden states give the next-token distributions exactly."""
    with torch.inference_mode(), captured_hidden(model) as seen:
        logits = model(input_ids=torch.tensor([[token, token]], device=device), use_cache=False).logits
        return bool(torch.allclose(model.get_output_embeddings()(seen[0]).float(), logits.float(), atol=1e-5))


def log_softmax_after(model, hidden: torch.Tensor) -> torch.Tensor:
    """log p(next token) from final hidden states [n, H] → [n, V] float32, normalised in place (a copy
    of [n, V] is tens of MB for a step's rows)."""
    logits = model.get_output_embeddings()(hidden).float()
    return logits.sub_(logits.logsumexp(-1, keepdim=True))


def target_log_probs(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(head(hidden))[i, targets[i]] for hidden [M, H] and targets [M] → [M] float32."""
    if not isinstance(head, torch.nn.Linear):
        return head(hidden).float().log_softmax(-1).gather(-1, targets[:, None])[:, 0]
    weight, bias = head.weight, head.bias
    hidden = hidden.to(weight.dtype)
    target = (hidden * weight[targets]).sum(-1).float() + (bias[targets].float() if bias is not None else 0)
    if hidden.device.type != "cpu" or not len(hidden):
        return target - head(hidden).float().logsumexp(-1)
    norms = [linear(hidden, weight[start:start + SLICE], None if bias is None else bias[start:start + SLICE])
             .float().logsumexp(-1) for start in range(0, len(weight), SLICE)]
    return target - torch.stack(norms).logsumexp(0)
