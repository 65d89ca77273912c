"""Peak memory of the loss step, full logits against the chunked linear cross-entropy, as the tokens grow.

For each token count, a child process builds Qwen2.5's LM head (151,936 x 896, fp32 on the CPU), runs the loss and
its backward on random hidden states once, and reports the growth of its peak resident set over what it held
before the step (Linux `ru_maxrss`); one process per measurement, so no step inherits another's peak. The figure
is the ratio chunked / full at each size: the full path's peak grows with tokens x vocabulary, the chunked one's
stays near one chunk's logits.

    .venv/bin/python benchmarks/bench_loss_memory.py [--tokens 1024,2048,3072]
        [--out benchmarks/results/loss_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOCAB, WIDTH = 151_936, 896  # Qwen2.5-0.5B's vocabulary and hidden width


def measure(kind: str, tokens: int) -> float:
    """MiB the loss step added to the process's peak resident set (run in a child process)."""
    import torch
    import torch.nn.functional as F

    from trainables.chunked_loss import linear_cross_entropy_sum

    torch.manual_seed(0)
    head = torch.nn.Linear(WIDTH, VOCAB, bias=False)
    hidden = torch.randn(tokens, WIDTH, requires_grad=True)
    targets = torch.randint(0, VOCAB, (tokens,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "full":
        loss = F.cross_entropy(head(hidden).float(), targets, reduction="sum")
    else:
        loss = linear_cross_entropy_sum(hidden, head, targets)
    loss.backward()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", default="1024,2048,3072")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/loss_memory.json"))
    parser.add_argument("--child", nargs=2, metavar=("KIND", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    from common.atomic import write_json

    rows = []
    for tokens in [int(t) for t in args.tokens.split(",") if t]:
        row = {"tokens": tokens}
        for kind in ("full", "chunked"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(tokens)],
                capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            row[f"{kind}_peak_growth_mib"] = json.loads(out.stdout.strip().splitlines()[-1])
        row["ratio_chunked_over_full"] = row["chunked_peak_growth_mib"] / row["full_peak_growth_mib"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    write_json(
        args.out,
        {
            "what": "peak resident memory added by one loss step (forward + backward) over the LM head, "
            "full logits vs trainables.chunked_loss (1,024-token chunks), one child process per figure",
            "command": " ".join(["python", *sys.argv]),
            "head": {"vocab": VOCAB, "width": WIDTH, "dtype": "float32", "device": "cpu"},
            "rows": rows,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        },
    )


if __name__ == "__main__":
    main()
