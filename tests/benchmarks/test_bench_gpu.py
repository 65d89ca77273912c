"""The GPU benchmark's code path, run on the CPU with the tiny preset (the GPU figures come from a lent machine)."""

from __future__ import annotations

import json

from benchmarks import bench_gpu


def test_bench_gpu_runs_every_variant_and_labels_cpu_energy_as_estimate(tmp_path):
    out = tmp_path / "gpu.json"
    bench_gpu.main(
        [
            "--device",
            "cpu",
            "--model",
            "tiny",
            "--examples",
            "24",
            "--batch-sizes",
            "8",
            "--min-len",
            "32",
            "--max-len",
            "64",
            "--repeats",
            "1",
            "--out",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    summary = report["summary"]
    for variant in ("bf16@8", "nf4@8", "trainer@8"):
        assert summary[variant]["tokens_per_second"] > 0
        assert summary[variant]["wh_per_1k_tokens"] > 0
        assert summary[variant]["energy_source"].startswith("estimate:")
        assert summary[variant]["mfu_vs_measured_matmul"] is None  # no GPU peak to read against
    assert summary["ratio_ours_over_trainer_bf16@8"] > 0
    assert report["checks"]["reload_max_abs_logit_diff_bf16"] < 1e-4
    assert report["checks"]["reload_max_abs_logit_diff_nf4"] < 1e-4


def test_flops_per_token_counts_every_matmul_weight_of_the_model():
    """4 FLOPs per frozen matmul weight: the N in the count is the model's own Linear weights, LM head included."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**bench_gpu.MODELS["tiny"])
    model = Qwen2ForCausalLM(config)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert bench_gpu.flops_per_token(config, lora_params=0, mean_len=0) == 4 * linear
    attention = 12 * config.num_hidden_layers * config.hidden_size * 100
    assert bench_gpu.flops_per_token(config, lora_params=10, mean_len=100) == 4 * linear + 60 + attention
