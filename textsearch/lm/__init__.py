"""The language-model engine behind a small typed interface (`interface`).

The face: `load_lm`, `load_mlm`, `CausalLM`, `MaskedLM`, `CharacterLM`, the sentence
encoder, and the `LanguageModel` protocols. The rest of this package is the engine's
own (token trees, kept states, key/value caches, attention layouts, CPU kernels,
drafting, searches taking turns); nothing outside `lm` imports it.
"""
from .characters import CharacterLM
from .causal import CausalLM
from .drafting import DraftPolicy
from .encoder import SentenceEncoder, load_sentence_encoder
from .interface import LanguageModel, MaskedLanguageModel
from .loading import BUILTIN_MODELS, DEFAULT_LM, load_lm, load_mlm
from .masked import MaskedLM

__all__ = ["BUILTIN_MODELS", "CausalLM", "CharacterLM", "DEFAULT_LM", "DraftPolicy", "LanguageModel",
           "MaskedLM", "MaskedLanguageModel", "SentenceEncoder", "load_lm", "load_mlm", "load_sentence_encoder"]
