"""MLMEnergy: PLL and raw-logit energies against a one-position-at-a-time reference on the HF model."""
import math

import pytest
import torch

from textsearch.objectives import MLMEnergy

TEXTS = ["the cat sat on the mat .", "dog", "a big red ball was under the green tree"]


def reference(mlm, ids: list[int], kind: str) -> float:
    """−Σ_i score(x_i | x_−i), one masked forward per position straight through the HF model."""
    tokenizer, total = mlm.tokenizer, 0.0
    for i, token in enumerate(ids):
        masked = ids[:i] + [tokenizer.mask_token_id] + ids[i + 1:]
        row = torch.tensor([[tokenizer.cls_token_id] + masked + [tokenizer.sep_token_id]])
        with torch.no_grad():
            logits = mlm.model(input_ids=row).logits[0, i + 1].double()
        total += (logits.log_softmax(-1) if kind == "pll" else logits)[token].item()
    return -total


@pytest.mark.parametrize("kind", ["pll", "raw"])
def test_energy_matches_one_position_at_a_time(tiny_mlm, kind):
    ids = [tiny_mlm.encode(t) for t in TEXTS]
    energies = MLMEnergy(tiny_mlm, kind=kind)(TEXTS)
    expected = torch.tensor([reference(tiny_mlm, s, kind) for s in ids], dtype=torch.float64)
    torch.testing.assert_close(energies, expected, rtol=0, atol=1e-4)


def test_pll_and_raw_differ_by_the_log_normalisers(tiny_mlm):
    pll, raw = MLMEnergy(tiny_mlm, "pll")(TEXTS), MLMEnergy(tiny_mlm, "raw")(TEXTS)
    assert (pll > 0).all()                        # −log of probabilities < 1
    assert not torch.allclose(pll, raw)           # raw reads the logits, unnormalised


def test_all_positions_of_all_sequences_in_one_call(tiny_mlm, monkeypatch):
    calls = []
    original = tiny_mlm.masked_logits
    monkeypatch.setattr(tiny_mlm, "masked_logits",
                        lambda items, positions: calls.append(len(positions)) or original(items, positions))
    ids = [tiny_mlm.encode(t) for t in TEXTS]
    MLMEnergy(tiny_mlm)(ids + [[]])
    assert calls == [sum(len(s) for s in ids)]


def test_empty_sequences_are_forbidden(tiny_mlm):
    for kind in ("pll", "raw"):
        energies = MLMEnergy(tiny_mlm, kind)([[], tiny_mlm.encode("dog"), []])
        assert energies[0] == math.inf and energies[2] == math.inf and math.isfinite(energies[1])
        assert MLMEnergy(tiny_mlm, kind)([[]]).tolist() == [math.inf]


def test_bad_kind(tiny_mlm):
    with pytest.raises(ValueError, match="kind"):
        MLMEnergy(tiny_mlm, kind="gibbs")
