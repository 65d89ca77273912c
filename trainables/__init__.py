"""One trial: base model, LoRA, training loop, energy, answers for the judges."""

import logging

# transformers' model classes import peft, and peft imports bitsandbytes, which on a CPU with AVX512-BF16 tries to
# fetch a 4-bit kernel from the Hugging Face hub and, with no hub access, logs a warning in every trial's worker
# (its built-in CPU kernel serves 4-bit instead). Set here, before any of them is imported by this package.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
