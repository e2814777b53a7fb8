"""The SFT, DPO and GRPO recipes through real launches on a tiny model: they train, resume, save loadable chat
models, merge LoRA adapters, and refuse bad input before writing anything."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfchat.tokenizer import IM_END
from tests.helpers import run_recipe

COMMON = {"bf16": False, "report_to": ["none"], "logging_steps": 1, "seed": 0,
          "learning_rate": 0.001, "save_total_limit": 1}
STAGE_FIELDS = {
    "sft": {"datasets": [{"path": "builtin:chat", "split": "train[:48]"},
                         {"path": "builtin:math", "split": "train[:48]"}],
            "max_length": 256, "packing": True, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 2,
            "assistant_only_loss": True, "dataset_num_proc": 1},
    "dpo": {"datasets": [{"path": "builtin:preference", "split": "train[:32]"}], "max_length": 256,
            "per_device_train_batch_size": 2, "dataset_num_proc": 1},
    "grpo": {"datasets": [{"path": "builtin:math", "split": "train[:32]"}], "reward_funcs": ["accuracy", "format"],
             "reward_weights": [1.0, 0.2], "num_generations": 4, "per_device_train_batch_size": 4,
             "max_completion_length": 8},
}


def write_config(tmp_path, stage, model, output_dir, **overrides):
    fields = {**COMMON, **STAGE_FIELDS[stage], "model_name_or_path": str(model), "output_dir": str(output_dir),
              "max_steps": 2, "save_steps": 2, **overrides}
    path = tmp_path / f"{stage}.yaml"
    path.write_text(yaml.safe_dump(fields))
    return path


def assert_chat_model(folder: Path):
    """A finished stage: loads with AutoModelForCausalLM, stops generating at the end of a turn, has a card."""
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    end_of_turn = tokenizer.convert_tokens_to_ids(IM_END)
    assert tokenizer.eos_token == IM_END
    assert model.generation_config.eos_token_id == [end_of_turn, tokenizer.bos_token_id]
    assert model.config.eos_token_id == end_of_turn
    assert (folder / "README.md").is_file() and not (folder / "tmp-final").exists()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi!"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    output = model.generate(**prompt, max_new_tokens=3, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]
    return model


def trainer_step(checkpoint: Path) -> int:
    return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def world_size(output_dir: Path) -> int:
    """The number of processes the run trained on, from the figures the recipe saves beside the model."""
    return json.loads((output_dir / "train_results.json").read_text())["world_size"]


@pytest.mark.slow
def test_sft_on_two_processes_resumes_and_saves_a_chat_model(tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    config = write_config(tmp_path, "sft", tiny_model_dir, out)
    first = run_recipe("sft", config, processes=2)
    assert "sft: world size 2, device cpu" in first.stdout
    assert world_size(out) == 2 and trainer_step(out / "checkpoint-2") == 2
    again = run_recipe("sft", config, "--max_steps", "4", "--save_steps", "4", processes=2)
    assert f"resuming from {out / 'checkpoint-2'}" in again.stdout
    assert trainer_step(out / "checkpoint-4") == 4
    assert_chat_model(out)


@pytest.mark.slow
def test_dpo_and_grpo_train_resume_and_save_chat_models(tiny_model_dir, tmp_path):
    for stage in ("dpo", "grpo"):
        out = tmp_path / stage
        config = write_config(tmp_path, stage, tiny_model_dir, out)
        run_recipe(stage, config)
        assert world_size(out) == 1 and trainer_step(out / "checkpoint-2") == 2
        again = run_recipe(stage, config, "--max_steps", "3", "--save_steps", "3")
        assert f"resuming from {out / 'checkpoint-2'}" in again.stdout
        assert trainer_step(out / "checkpoint-3") == 3
        model = assert_chat_model(out)
        if stage == "dpo":  # (a random model earns GRPO no reward at all, so its advantages, and updates, are 0)
            before, after = load_file(tiny_model_dir / "model.safetensors"), model.state_dict()
            assert any(not torch.equal(before[name], after[name]) for name in before), "DPO changed no weight"
    history = json.loads((tmp_path / "grpo" / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
    assert any("rewards/accuracy/mean" in entry for entry in history)  # each reward function is logged


@pytest.mark.slow
def test_lora_adapter_is_merged_into_a_model_that_loads_without_peft(tiny_model_dir, tmp_path):
    out = tmp_path / "lora"
    config = write_config(tmp_path, "sft", tiny_model_dir, out, use_peft=True, lora_r=4, lora_alpha=8,
                          lora_target_modules=["q_proj", "v_proj"], merge_adapters=True, learning_rate=0.01)
    run_recipe("sft", config)
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert not (out / "adapter_config.json").exists()  # the folder is a full model, not an adapter
    merged = assert_chat_model(out)
    before = load_file(tiny_model_dir / "model.safetensors")
    after = merged.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all("q_proj" in name or "v_proj" in name for name in changed)


def test_recipes_refuse_bad_input_before_writing(tiny_model_dir, tmp_path):
    no_messages = tmp_path / "texts.jsonl"
    no_messages.write_text(json.dumps({"text": "just text"}) + "\n")
    out = tmp_path / "never"
    config = write_config(tmp_path, "sft", tiny_model_dir, out,
                          datasets=[{"path": "json", "data_files": str(no_messages)}])
    result = run_recipe("sft", config, check=False)
    assert result.returncode != 0 and "has columns ['text']; the sft stage needs columns messages" in result.stderr

    no_markers = tmp_path / "no-markers"
    no_markers.mkdir()
    for path in tiny_model_dir.iterdir():
        (no_markers / path.name).write_bytes(path.read_bytes())
    template = (no_markers / "chat_template.jinja").read_text()
    template = template.replace("{%- generation %}", "").replace("{%- endgeneration %}", "")
    (no_markers / "chat_template.jinja").write_text(template)
    result = run_recipe("sft", write_config(tmp_path, "sft", no_markers, out), check=False)
    assert result.returncode != 0 and "assistant_only_loss: true needs a chat template with" in result.stderr

    result = run_recipe("grpo", write_config(tmp_path, "grpo", tiny_model_dir, out, reward_funcs=["accuracy", "nope"]),
                        check=False)
    assert result.returncode != 0 and "reward_funcs: unknown reward 'nope'" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_qlora_trains_a_4bit_model_and_merges_into_full_precision(tiny_model_dir, tmp_path):
    out = tmp_path / "qlora"
    config = write_config(tmp_path, "sft", tiny_model_dir, out, use_peft=True, load_in_4bit=True, lora_r=4,
                          lora_alpha=8, lora_target_modules=["q_proj", "v_proj"], merge_adapters=True,
                          learning_rate=0.01)
    run_recipe("sft", config)
    assert world_size(out) == 1
    merged = assert_chat_model(out)
    assert all(p.dtype == torch.float32 for p in merged.parameters())  # merged into the unquantized base
    before = load_file(tiny_model_dir / "model.safetensors")
    changed = {name for name, p in merged.state_dict().items() if not torch.equal(before[name], p)}
    assert changed and all("q_proj" in name or "v_proj" in name for name in changed)


@pytest.mark.slow
def test_sft_on_multiple_choice_rows_raises_the_letter_accuracy_evaluation_reads(tmp_path):
    """The SFT rows' target (the bare letter) is what ARC's and MMLU's ``accuracy`` reads at the reply's first
    position: SFT on builtin multiple-choice items takes a fresh model from chance to most held-out items."""
    from hfchat import HFChatForCausalLM, train_tokenizer
    from hfchat.data.builtin import builtin_dataset
    from hfchat.evaluation.runner import evaluate
    from hfchat.tokenizer import save_tokenizer
    from tests.helpers import tiny_config

    rows = builtin_dataset("multiple_choice")
    tokenizer = train_tokenizer([f"{row['question']} {' '.join(row['choices'])}" for row in rows], vocab_size=1024)
    base = tmp_path / "base"
    torch.manual_seed(0)
    HFChatForCausalLM(tiny_config(vocab_size=len(tokenizer))).save_pretrained(base)
    save_tokenizer(tokenizer, base)
    held_out = {"mmlu": {"path": "builtin:multiple_choice", "split": "test"}}

    def letter_accuracy(model) -> float:
        summary = evaluate(str(model), "mmlu", sources=held_out, limit=200, batch_size=50)
        return summary["results"]["mmlu"]["accuracy"]

    out = tmp_path / "sft"
    config = write_config(tmp_path, "sft", base, out, datasets=[{"path": "builtin:multiple_choice"}],
                          packing=False, max_length=128, per_device_train_batch_size=16,
                          gradient_accumulation_steps=1, learning_rate=0.003, lr_scheduler_type="constant",
                          max_steps=160, save_steps=160)
    run_recipe("sft", config)
    before, after = letter_accuracy(base), letter_accuracy(out)
    print(f"letter accuracy on 200 held-out items: {before:.2f} before SFT, {after:.2f} after")
    assert before < 0.4 and after > 0.8
