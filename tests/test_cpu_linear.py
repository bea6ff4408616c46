"""CPU linear layers through oneDNN give the plain layer's numbers, and stay ordinary nn.Linear modules."""
from __future__ import annotations

import copy

import pytest
import torch

from textsearch.lm import cpu
from textsearch.lm.cpu import CPULinear, enable, linear


@pytest.fixture(autouse=True)
def onednn(monkeypatch):
    """oneDNN runs the products here whatever this CPU is (on Intel's, `linear` leaves them to MKL)."""
    if torch.backends.mkldnn.is_available():
        monkeypatch.setattr(cpu, "ONEDNN", torch.ops.mkldnn._linear_pointwise)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Linear(16, 24)
        self.head = torch.nn.Linear(24, 300, bias=False)

    def forward(self, x):
        return self.head(torch.relu(self.inner(x)))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(1, 16), (3, 16), (2, 5, 16), (97, 16), (0, 16)])
def test_same_numbers_as_the_plain_layer(bias, shape):
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 300, bias=bias)
    x = torch.randn(shape)
    with torch.inference_mode():
        got = linear(x, layer.weight, layer.bias)
    torch.testing.assert_close(got, torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
    assert got.shape == (*shape[:-1], 300)


def test_a_strided_input_is_read_as_it_is():
    torch.manual_seed(1)
    weight, x = torch.randn(40, 16), torch.randn(16, 7).T            # [7, 16], not contiguous
    with torch.inference_mode():
        torch.testing.assert_close(linear(x, weight), x @ weight.T, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch build has no oneDNN")
def test_onednn_runs_outside_autograd_and_gradients_still_flow(monkeypatch):
    calls, onednn = [], torch.ops.mkldnn._linear_pointwise
    monkeypatch.setattr(cpu, "ONEDNN", lambda *args: calls.append(1) or onednn(*args))
    layer = torch.nn.Linear(16, 8)
    x = torch.randn(4, 16)
    with torch.inference_mode():
        linear(x, layer.weight, layer.bias)
    assert calls == [1]
    linear(x, layer.weight, layer.bias).sum().backward()           # autograd: torch's own linear
    assert calls == [1] and layer.weight.grad is not None
    linear(x.double(), layer.weight.double())                      # float64: torch's own linear
    assert calls == [1]


def test_every_plain_linear_switches_and_the_model_stays_the_same():
    torch.manual_seed(2)
    net = Net()
    x = torch.randn(5, 16)
    expected, state = net(x), copy.deepcopy(net.state_dict())
    assert enable(net) == 2
    assert type(net.inner) is CPULinear and type(net.head) is CPULinear and isinstance(net.head, torch.nn.Linear)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items()) and state.keys() == net.state_dict().keys()
    with torch.inference_mode():
        torch.testing.assert_close(net(x), expected, atol=1e-5, rtol=1e-5)
        twin = copy.deepcopy(net)                                  # a copy computes with its own weights
        twin.head.weight.zero_()
        assert torch.count_nonzero(twin(x)) == 0 and torch.count_nonzero(net(x)) > 0


def test_row_counts_come_in_few_shapes_of_at_most_a_quarter_more():
    padded = [cpu.padded_rows(n) for n in range(1, 4097)]
    assert padded[:8] == list(range(1, 9))
    assert all(n <= p <= 1.25 * n for n, p in zip(range(1, 4097), padded))
    assert len(set(padded)) <= 8 + 4 * 9


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch build has no oneDNN")
@pytest.mark.parametrize("shape", [(13, 16), (3, 7, 16), (200, 16)])
def test_padded_rows_leave_the_numbers_as_they_are(shape):
    """The rows oneDNN's product pads are cut off again."""
    torch.manual_seed(3)
    layer = torch.nn.Linear(16, 300)
    x = torch.randn(shape)
    with torch.inference_mode():
        got = linear(x, layer.weight, layer.bias)
    assert got.shape == (*shape[:-1], 300)
    torch.testing.assert_close(got, torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=1e-5)
