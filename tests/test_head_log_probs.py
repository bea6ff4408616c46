"""Target log-probs from hidden states, the normaliser taken a vocabulary slice at a time, equal the
head's log-softmax: slices that do not divide the vocabulary, a bias, and heads that are not linear."""
from __future__ import annotations

import pytest
import torch

from textsearch.lm import head as head_log_probs
from textsearch.lm.head import target_log_probs


def expected(head, hidden, targets):
    return head(hidden).log_softmax(-1).gather(-1, targets[:, None])[:, 0]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("slice_rows", [7, 64, 1000])
@pytest.mark.parametrize("rows", [0, 1, 9])
def test_equals_the_heads_log_softmax(monkeypatch, bias, slice_rows, rows):
    monkeypatch.setattr(head_log_probs, "SLICE", slice_rows)
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 300, bias=bias)
    hidden, targets = 3 * torch.randn(rows, 16), torch.randint(0, 300, (rows,))
    with torch.inference_mode():
        got = target_log_probs(head, hidden, targets)
        torch.testing.assert_close(got, expected(head, hidden, targets), atol=1e-5, rtol=0)
    assert got.shape == (rows,) and got.dtype == torch.float32


def test_a_head_that_is_not_linear_runs_whole():
    class Scaled(torch.nn.Module):
        def forward(self, hidden):
            return 2 * hidden

    hidden, targets = torch.randn(4, 10), torch.tensor([0, 3, 9, 3])
    torch.testing.assert_close(target_log_probs(Scaled(), hidden, targets), expected(Scaled(), hidden, targets))
