"""Every YAML in the repo loads: recipe presets against their script's dataclasses, accelerate configs against
accelerate's own launcher (and the FSDP/DeepSpeed plugins it would build)."""

import os
from pathlib import Path
from unittest import mock

import pytest
import torch
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
from trl import DPOConfig, GRPOConfig, ModelConfig, SFTConfig, TrlParser

from hfchat.evaluation.runner import EvalArguments, parse_tasks
from hfchat.training import PretrainConfig
from hfchat.training.post import GRPOScriptArguments, ScriptArguments
from tests.helpers import REPO_ROOT

RECIPE_DATACLASSES = {
    "pretrain": (PretrainConfig,),
    "midtrain": (ScriptArguments, SFTConfig, ModelConfig),  # an SFT config: recipes/sft.py runs it
    "sft": (ScriptArguments, SFTConfig, ModelConfig),
    "dpo": (ScriptArguments, DPOConfig, ModelConfig),
    "grpo": (GRPOScriptArguments, GRPOConfig, ModelConfig),
    "evaluate": (EvalArguments,),
}
RECIPE_SCRIPTS = {"midtrain": "sft"}
RECIPE_YAMLS = sorted((REPO_ROOT / "recipes").glob("*/*.yaml"))
ACCELERATE_YAMLS = sorted((REPO_ROOT / "accelerate_configs").glob("*.yaml"))


def test_every_stage_yaml_has_a_parser():
    assert RECIPE_YAMLS
    assert {path.stem for path in RECIPE_YAMLS} <= set(RECIPE_DATACLASSES)
    for stage in RECIPE_DATACLASSES:
        assert (REPO_ROOT / "recipes" / f"{RECIPE_SCRIPTS.get(stage, stage)}.py").is_file()


@pytest.mark.parametrize("path", RECIPE_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_yaml_parses_against_its_script(path, tmp_path):
    parser = TrlParser(RECIPE_DATACLASSES[path.stem])
    args = ["--config", str(path), "--output_dir", str(tmp_path)]
    if path.stem == "evaluate":
        (config,) = parser.parse_args_and_config(args=args)
        assert config.output_dir == str(tmp_path) and parse_tasks(config.tasks)
        return
    if path.stem != "pretrain" and not torch.cuda.is_available():
        args += ["--use_cpu", "true"]  # TrainingArguments refuse bf16 without a GPU at parse time
    parsed = parser.parse_args_and_config(args=args)
    if path.stem != "pretrain":
        check_post_training_yaml(path, *parsed, tmp_path)
        return
    (config,) = parsed
    assert config.output_dir == str(tmp_path)
    if path.parent.name != "tiny":
        assert config.bf16 and config.seq_len == 2048 and config.total_batch_size == 524288
        assert config.datasets[0].path == "HuggingFaceFW/fineweb-edu"
        assert config.depth == int(path.parent.name[1:])


def check_post_training_yaml(path, script_args, training_args, model_args, output_dir):
    assert training_args.output_dir == str(output_dir)
    assert script_args.datasets and model_args.model_name_or_path
    tiny = path.parent.name == "tiny"
    assert training_args.bf16 != tiny  # CPU presets in fp32, GPU presets in bf16
    if path.stem == "grpo":
        assert script_args.reward_funcs and len(training_args.reward_weights) == len(script_args.reward_funcs)
    if script_args.identity_file:
        assert (REPO_ROOT / script_args.identity_file).is_file()


def launch_args(path: Path):
    args = launch_command_parser().parse_args(["--config_file", str(path), "recipes/pretrain.py"])
    args, defaults, _ = _validate_launch_command(args)
    return args, defaults


@pytest.mark.parametrize("path", ACCELERATE_YAMLS, ids=lambda p: p.name)
def test_accelerate_config_loads(path):
    args, defaults = launch_args(path)
    assert defaults.num_processes >= 2
    if path.name == "cpu.yaml":
        assert defaults.num_processes == 2 and not defaults.use_cpu  # see the note in cpu.yaml


def test_fsdp2_config_builds_a_version_2_plugin_wrapping_decoder_layers():
    args, _ = launch_args(REPO_ROOT / "accelerate_configs" / "fsdp2.yaml")
    assert args.use_fsdp
    with mock.patch.dict(os.environ, prepare_multi_gpu_env(args)):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.transformer_cls_names_to_wrap == ["HFChatDecoderLayer"]


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_build_their_zero_stage(stage):
    args, defaults = launch_args(REPO_ROOT / "accelerate_configs" / f"deepspeed_zero{stage}.yaml")
    assert args.use_deepspeed
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
    _, env = prepare_deepspeed_cmd_env(args)
    with mock.patch.dict(os.environ, env):
        plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == stage
