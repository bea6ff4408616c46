"""The CPU head gives the plain linear layer's logits, for few rows and for many."""
from __future__ import annotations

import pytest
import torch

from textsearch.cpu_head import ROWS, use_cpu_head


class TinyLM(torch.nn.Module):
    def __init__(self, bias: bool):
        super().__init__()
        self.head = torch.nn.Linear(16, 300, bias=bias)

    def get_output_embeddings(self):
        return self.head


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(1, 16), (3, 16), (2, 5, 16), (1, ROWS + 1, 16), (0, 16)])
def test_same_logits_as_the_plain_layer(bias, shape):
    torch.manual_seed(0)
    model = TinyLM(bias)
    hidden = torch.randn(shape)
    expected = torch.nn.functional.linear(hidden, model.head.weight, model.head.bias)
    use_cpu_head(model)
    with torch.inference_mode():
        logits = model.get_output_embeddings()(hidden)
    assert logits.shape == expected.shape and logits.is_contiguous()
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_other_heads_are_left_alone():
    class Scaled(torch.nn.Module):
        def forward(self, hidden):
            return 2 * hidden

    model = TinyLM(False)
    model.head = Scaled()
    forward = model.head.forward
    use_cpu_head(model)
    assert model.head.forward == forward
