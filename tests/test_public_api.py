"""The public contract: every name users, scripts and tests rely on is importable where it is promised."""
from __future__ import annotations

import dataclasses
import importlib

import pytest

CONTRACT = {
    "textsearch": ["State", "load_lm", "load_mlm", "lm", "objectives", "proposals", "samplers", "schedules",
                   "diagnostics", "tasks", "testing", "__version__"],
    "textsearch.lm": ["CausalLM", "MaskedLM", "CharacterLM", "LanguageModel", "MaskedLanguageModel", "DraftPolicy",
                      "SentenceEncoder", "load_lm", "load_mlm", "load_sentence_encoder", "BUILTIN_MODELS"],
    "textsearch.objectives": ["Objective", "Batch", "Sum", "Scaled", "FromFunction", "Fluency", "Keywords",
                              "LengthPrior", "MLMEnergy", "RepetitionPenalty", "SentenceForm", "Similarity", "EditDistance",
                              "CopyPenalty", "Template"],
    "textsearch.proposals": ["Proposal", "Move", "SequenceDistribution", "Conditional", "EditProposal",
                             "UniformReplace", "UniformEdit", "UniformSequences", "ExactConditional",
                             "TopKConditional", "MLMConditional", "LMSampler", "Mixture", "Cycle", "Swap",
                             "Candidates", "Slot", "TOP_K"],
    "textsearch.samplers": ["MetropolisHastings", "Gibbs", "SimulatedAnnealing", "ParallelTempering",
                            "RejectionSampler", "ImportanceSampler", "MarkovSampler", "Result", "MarkovResult",
                            "IndependentResult", "WeightedResult", "Sample", "StepInfo", "DrawInfo", "SMCInfo",
                            "mh_step", "mh_accept", "SMC", "Twist", "KeywordTwist"],
    "textsearch.schedules": ["Schedule", "Constant", "Linear", "Exponential", "Logarithmic"],
    "textsearch.diagnostics": ["effective_sample_size", "split_rhat"],
    "textsearch.testing": ["Check", "check_invariance", "check_markov", "check_weighted", "compare",
                           "exact_distribution", "all_sequences", "random_table", "table_objective"],
    "textsearch.tasks": ["KeywordsToSentence", "KeywordResult", "Paraphrase", "Correct", "Infill", "SentenceResult"],
}
RESULT_FIELDS = ["samples", "best", "acceptance_rate", "trace", "info", "evaluations", "seconds"]
SAMPLE_FIELDS = ["tokens", "text", "energy", "weight"]


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_every_promised_name_is_there(module):
    imported = importlib.import_module(module)
    missing = [name for name in CONTRACT[module] if not hasattr(imported, name)]
    assert not missing, f"{module} lost {missing}"


def test_results_and_samples_have_the_promised_fields():
    from textsearch.samplers import Result, Sample
    assert set(RESULT_FIELDS) <= {f.name for f in dataclasses.fields(Result)}
    assert set(SAMPLE_FIELDS) <= {f.name for f in dataclasses.fields(Sample)}
    assert all(callable(getattr(Result, name)) for name in ("expectation", "weights", "resample", "ess"))


def test_the_language_models_have_the_interface_the_library_relies_on():
    import textsearch as ts
    for name in ("encode", "decode", "log_prob", "next_token_log_probs", "session", "taking_turns"):
        for model in (ts.lm.CausalLM, ts.lm.CharacterLM):
            assert callable(getattr(model, name)), f"{model.__name__}.{name}"
    assert callable(ts.lm.MaskedLM.masked_logits) and callable(ts.lm.MaskedLM.session)
