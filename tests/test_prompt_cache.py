"""run_prompt: a prompt that begins like the last one runs only its tail, with the same result."""
import pytest
import torch
from conftest import make_tiny_lm

from textsearch.prompt_cache import run_prompt


def widths(model):
    """Record the input width of every forward of `model`."""
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"].shape[1]),
                                    with_kwargs=True)
    return seen


def full(model, tokens):
    out = model(input_ids=torch.tensor([tokens]), use_cache=True)
    return out.past_key_values, out.logits[:, -1]


@pytest.mark.parametrize("second", [
    [1, 5, 6, 7, 8, 9, 10],        # departs after four tokens
    [1, 5, 6, 7, 8, 11, 12, 13],   # extends the first
    [1, 5, 6],                     # a prefix of the first
    [1, 5, 6, 7, 8, 11],           # the same prompt again
])
def test_next_prompt_runs_its_tail_and_matches_a_full_forward(second):
    model = make_tiny_lm(seed=3).model
    first = [1, 5, 6, 7, 8, 11]
    seen = widths(model)
    with torch.inference_mode():
        run_prompt(model, first, torch.device("cpu"))
        cache, last = run_prompt(model, second, torch.device("cpu"))
        shared = min(next(i for i, (a, b) in enumerate(zip(first + [-1], second + [-2])) if a != b), len(second) - 1)
        assert seen == [len(first)] + ([] if second == first else [len(second) - shared])
        ref_cache, ref_last = full(model, second)
        assert torch.allclose(last, ref_last, atol=1e-5)
        # the returned cache carries on like the full one, and it is the caller's to change
        step = torch.tensor([[4]])
        after = model(input_ids=step, past_key_values=cache, use_cache=True).logits[:, -1]
        ref_after = model(input_ids=step, past_key_values=ref_cache, use_cache=True).logits[:, -1]
        assert torch.allclose(after, ref_after, atol=1e-5)
        _, again = run_prompt(model, second, torch.device("cpu"))
        assert torch.allclose(again, ref_last, atol=1e-5)
