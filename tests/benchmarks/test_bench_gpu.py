"""The GPU benchmark's code path, run on the CPU with the tiny preset (the GPU figures come from a lent machine)."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_gpu


def test_bench_gpu_runs_every_variant_and_labels_cpu_energy_as_estimate(tmp_path):
    out = tmp_path / "gpu.json"
    argv = ["--device", "cpu", "--models", "tiny", "--examples", "24", "--batch-sizes", "8", "--min-len", "32"]
    argv += ["--max-len", "64", "--repeats", "1", "--power-limits", "default,300", "--out", str(out)]
    argv += ["--variants", "bf16,nf4,bf16-gc,bf16-varlen,trainer,unsloth"]
    bench_gpu.main(argv)
    report = json.loads(out.read_text())
    assert report["command"].startswith("python -m benchmarks.bench_gpu --device cpu")
    tiny = report["models"]["tiny"]
    summary = tiny["summary"]
    for variant in ("bf16@8", "nf4@8", "bf16-gc@8", "bf16-varlen@8", "trainer@8"):
        assert summary[variant]["tokens_per_second"] > 0
        assert summary[variant]["wh_per_1k_tokens"] > 0
        assert summary[variant]["energy_source"].startswith("estimate:")
        assert summary[variant]["mfu_vs_measured_matmul"] is None  # no GPU peak to read against
        assert summary[variant]["ratio_to_energy_floor"] is None  # an estimate is never set against the floor
    assert tiny["skipped"] == {"unsloth": "CUDA only"}
    assert summary["ratio_ours_over_trainer_bf16@8"] > 0
    assert tiny["checks"]["reload_max_abs_logit_diff_bf16"] < 1e-4
    assert tiny["checks"]["reload_max_abs_logit_diff_nf4"] < 1e-4
    assert "no CUDA device" in tiny["power_limits"]["refused"]
    assert tiny["runs"]["bf16@8"][0]["micro_batch_tokens"] == 4096  # the CPU's fixed forward size
    assert tiny["runs"]["bf16@8"][0]["loss_path"] == "chunked (torch)"  # Liger is CUDA-only
    assert tiny["runs"]["bf16-varlen@8"][0]["attention_implementation"].startswith("varlen")


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


def test_energy_floor_matches_the_issues_figure_for_the_half_billion_model():
    """The issue: at 989 TFLOP/s and 700 W the 0.5B model's floor is about 0.0004 Wh per 1,000 tokens."""
    from transformers import Qwen2Config

    config = Qwen2Config(**bench_gpu.MODELS["qwen2.5-0.5b"])
    floor = bench_gpu.floor_wh_per_1k_tokens(config, 989.4 / 700.0)
    assert floor == pytest.approx(0.00039, rel=0.05)


def test_unknown_model_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        bench_gpu.main(["--device", "cpu", "--models", "tiny,qwen9", "--out", str(tmp_path / "x.json")])
    assert caught.value.code == 2
    assert "qwen9" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_profile_of_a_step_names_where_the_time_goes(capsys):
    """The profiler script's code path on the CPU (tiny preset): a summary line, then the ops ranked by time."""
    from benchmarks import profile_gpu_step

    profile_gpu_step.main(["--device", "cpu", "--model", "tiny", "--steps", "2", "--rows", "5", "--max-len", "128"])
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("tiny batch 16: 2 steps,") and "wall" in first
    assert "aten::mm" in out  # the LoRA and base products are among the ops that take the time
