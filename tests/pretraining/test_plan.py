"""`hfchat plan` and `per_device_train_batch_size: auto`: the memory model against the optimizers' real state, the
tensors autograd really saves, and the peak memory a CPU training step really takes."""

import json
import subprocess
import sys

import pytest
import torch
from trl import TrlParser

from hfchat import HFChatForCausalLM
from hfchat.cli import main
from hfchat.modeling.size import size_summary
from hfchat.training import PretrainConfig, pretrain
from hfchat.training.optim import build_optimizers
from hfchat.training.plan import (
    GIB,
    ActivationBytes,
    _saved_bytes,
    measure_activations,
    model_config_for,
    plan_pretraining,
)
from tests.helpers import REPO_ROOT
from tests.pretraining.test_pretrain_errors import config as run_config
from tests.pretraining.test_pretrain_errors import corpus  # noqa: F401 (a fixture)

NO_ACTIVATIONS = ActivationBytes(0, 0, 0, 0, 0, 0)


def plan_config(**overrides) -> PretrainConfig:
    fields = dict(output_dir="unused", depth=2, head_dim=32, vocab_size=512, seq_len=64, total_batch_size=64 * 24,
                  per_device_train_batch_size="auto", bf16=True)
    return PretrainConfig(**{**fields, **overrides})


def static_bytes(plan) -> float:
    return (plan.weights_gb + plan.gradients_gb + plan.optimizer_gb + plan.ddp_buckets_gb) * GIB


def test_the_activation_model_predicts_a_depth_and_length_it_did_not_probe():
    model_config = model_config_for(plan_config(depth=3))
    activations = measure_activations(model_config)
    torch.manual_seed(0)
    model = HFChatForCausalLM(model_config).train()
    tokens = 200
    predicted = activations.total(3, tokens) - activations.loss_per_token * tokens
    assert abs(_saved_bytes(model, tokens, bf16=True) - predicted) < 0.001 * predicted


@pytest.mark.parametrize("optimizer", ["muon", "adamw"])
def test_weights_and_optimizer_state_are_what_the_real_optimizers_hold(optimizer):
    config = plan_config(optimizer=optimizer)
    model = HFChatForCausalLM(model_config_for(config))
    optimizers = build_optimizers(model, config)
    ids = torch.randint(0, config.vocab_size, (2, 17))
    model(input_ids=ids, labels=ids).loss.backward()
    for opt in optimizers:
        opt.step()
    state = sum(t.nbytes for opt in optimizers for s in opt.state.values() for t in s.values()
                if torch.is_tensor(t) and t.dim() > 0)
    plan = plan_pretraining(config, gpus=2, gpu_memory_gb=100, activations=NO_ACTIVATIONS)
    assert plan.optimizer_gb * GIB == state
    assert plan.weights_gb * GIB == plan.gradients_gb * GIB == sum(p.nbytes for p in model.parameters())
    assert plan.ddp_buckets_gb == plan.weights_gb
    assert plan_pretraining(config, gpus=1, gpu_memory_gb=100, activations=NO_ACTIVATIONS).ddp_buckets_gb == 0


def test_the_batch_is_the_largest_divisor_of_the_rows_that_fits():
    config = plan_config()  # 24 rows per step on one GPU: batches 1, 2, 3, 4, 6, 8, 12 or 24
    activations = measure_activations(model_config_for(config))
    roomy = plan_pretraining(config, 1, 100, activations=activations)
    assert (roomy.per_device_train_batch_size, roomy.gradient_accumulation_steps) == (24, 1)

    def peak(rows):
        return static_bytes(roomy) + activations.total(2, rows * config.seq_len)

    memory_gb = (peak(7) + peak(8)) / 2 / GIB  # seven rows fit, eight do not
    plan = plan_pretraining(config, 1, memory_gb, headroom=0, context_bytes=0, activations=activations)
    assert (plan.per_device_train_batch_size, plan.gradient_accumulation_steps) == (6, 4)
    assert plan.peak_gb * GIB == pytest.approx(peak(6))
    checkpointed = plan_pretraining(config, 1, memory_gb, headroom=0, context_bytes=0, activations=activations,
                                    gradient_checkpointing=True)
    assert checkpointed.per_device_train_batch_size > 6
    assert checkpointed.step_seconds == pytest.approx(plan.step_seconds * 4 / 3)
    none = plan_pretraining(config, 1, peak(1) / 2 / GIB, headroom=0, context_bytes=0, activations=activations)
    assert (none.per_device_train_batch_size, none.gradient_accumulation_steps, none.peak_gb) == (None, None, None)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_estimate_is_near_the_peak_memory_of_a_real_cpu_step(checkpointing):
    """benchmarks/plan_memory.py at its first shape: measured (peak RSS of a forward+backward) / estimated."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import plan_memory
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    row = plan_memory.measure(plan_memory.SHAPES[0], checkpointing)
    assert 0.9 < row["measured_over_estimated"] < 1.3, row


def test_auto_is_parsed_from_yaml_and_flags(tmp_path):
    preset = tmp_path / "pretrain.yaml"
    preset.write_text("output_dir: out\ndepth: 2\nper_device_train_batch_size: auto\n")
    (config,) = TrlParser(PretrainConfig).parse_args_and_config(["--config", str(preset)])
    assert config.per_device_train_batch_size == "auto"
    (config,) = TrlParser(PretrainConfig).parse_args_and_config(
        ["--config", str(preset), "--per_device_train_batch_size", "4"])
    assert config.per_device_train_batch_size == 4


def test_pretraining_with_auto_takes_the_batch_the_plan_gives(corpus, tmp_path):  # noqa: F811
    config = run_config(corpus, tmp_path / "out", per_device_train_batch_size="auto", total_batch_size=32 * 6)
    result = pretrain(config)
    assert result.per_device_train_batch_size == 6  # every row fits in this machine's memory
    records = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 and records[-1]["loss"] > 0


def test_hfchat_plan_prints_the_d20_preset(capsys):
    assert main(["plan", "--preset", "d20", "--gpus", "8", "--gpu-memory", "80", "--json"]) == 0
    eager, checkpointed = json.loads(capsys.readouterr().out)
    assert eager["parameters"] == size_summary(20)["parameters"]
    assert checkpointed["gradient_checkpointing"] and not eager["gradient_checkpointing"]
    for plan in (eager, checkpointed):
        assert plan["per_device_train_batch_size"] * plan["gradient_accumulation_steps"] * 2048 * 8 == 524288
        assert plan["peak_gb"] <= 0.9 * 80
    assert checkpointed["per_device_train_batch_size"] >= eager["per_device_train_batch_size"]


def test_hfchat_plan_names_a_bad_preset_or_gpu():
    for args, named in ((["--preset", "d99"], "recipes/d99/pretrain.yaml"), (["--gpu", "TPU"], "--gpu 'TPU'")):
        result = subprocess.run([sys.executable, "-m", "hfchat.cli", "plan", *args], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2 and named in result.stderr, result.stderr
