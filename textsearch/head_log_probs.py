"""log p of given next tokens from final hidden states, without the [M, V] logits.

Scoring a sentence needs, at each position, one logit and the log-normaliser over the
vocabulary. Through the model's LM head that is an [M, V] matrix written out and read
back (200 MB for 1000 positions of SmolLM2's 49k vocabulary), which on a CPU costs a
third of the head's time. Taken a slice of the vocabulary at a time, each slice's
logits stay in cache while their log-sum-exp is taken, and the wanted logit is a dot
product with its token's row of the weight. The numbers equal the head's log-softmax up
to float rounding; scripts/bench_speed.py measures the gain.
"""
from __future__ import annotations

import torch

from .cpu_linear import linear

SLICE = 2048        # vocabulary rows per slice on a CPU (measured: 2048 to 4096 best with 2 threads)


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
