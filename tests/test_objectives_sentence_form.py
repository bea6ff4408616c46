"""SentenceForm: a charge for each end of the text that does not look like a sentence's."""
import pytest

from textsearch.objectives import Batch, SentenceForm
from textsearch.objectives.sentence_form import ends_well, sentence_breaks, starts_well


@pytest.mark.parametrize("text, start, end", [
    ("A dog catches a frisbee.", True, True),
    ("“Two friends row a boat.”", True, True),
    ("- walks his dog on a leash.", False, True),
    ("'s team plays basketball", False, False),
    ("plays football!", False, True),
    ("3 boys kick a ball?", True, True),
    ("广州美食街开幕。", True, True),
    ("2、科学空间", True, False),
    ("", False, False),
])
def test_ends(text, start, end):
    assert starts_well(text) is start and ends_well(text) is end


@pytest.mark.parametrize("text, breaks", [
    ("A dog runs.", 0),
    ("A bat costs $1.10. The ball costs $0.10.", 1),
    ("He said “Stop!” and left. Then he ran! Why?", 2),
    ("He ran... and fell.", 0),
    ("他说：“好。”然后走了。", 0),
    ("广州美食街开幕。欢迎光临。", 1),
    ("The surf hits the shore.\n, day, beach, surfer", 1),     # a line break ends a sentence, whatever follows
    ("A dog runs\nand a cat. It sits.", 2),
    ("A dog runs.\n", 0),
    ("A dog runs\nthe cat sits", 1),
    ("A dog runs.\r\nIt sits.\r\n", 1),
    ("A dog runs\u2028fast.", 0),                                # only \n, \r and \r\n break a line
])
def test_sentence_breaks(text, breaks):
    assert sentence_breaks(text) == breaks


def test_energy_counts_broken_ends_and_extra_sentences_times_weight():
    texts = ["A dog runs.", "a dog runs.", "A dog runs", ", a dog runs", "The end (of it).", "A dog. A cat. A cow."]
    energies = SentenceForm(weight=2.5).energy(Batch([[]] * len(texts), texts=texts))
    assert energies.tolist() == [0.0, 2.5, 2.5, 5.0, 0.0, 5.0]


def test_reads_token_ids_through_the_tokenizer(tiny_lm):
    ids = [tiny_lm.encode("the dog sat")]
    assert SentenceForm(weight=1.0)(Batch(ids, tokenizer=tiny_lm.tokenizer)).tolist() == [2.0]


def test_bad_weight():
    with pytest.raises(ValueError, match="weight"):
        SentenceForm(weight=-1)
