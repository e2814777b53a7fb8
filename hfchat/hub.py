"""Push a model folder to the Hugging Face Hub with a model card (``hfchat push``).

    hfchat push --model runs/tiny/sft --repo-id me/tiny-chat             # the hfchat model (remote code)
    hfchat push --model runs/tiny/sft --repo-id me/tiny-chat-qwen3 --exported   # the Qwen3 export, no remote code

`upload_plan` builds exactly the folder that is uploaded (weights, remote code, tokenizer with chat template,
generation config, model card, report card and plots) and the commit operations; `push` creates the repository
and uploads everything in one commit. The card comes from ``model_card/model_card.md.jinja`` through
`huggingface_hub.ModelCard.from_template`, its ``model-index`` from the run's ``eval/<stage>.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .evaluation.registry import FACTS, scores
from .files import shipped
from .report import eval_table, format_value, parameter_count, stage_summary
from .run_folder import REPORT, STAGES, read_eval_results, read_timings, run_of

CARD_TEMPLATE = shipped("model_card") / "model_card.md.jinja"
# What a model folder may hold that belongs on the Hub (checkpoints, optimizer states and training args stay home).
UPLOADED = ("*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
            "configuration_hfchat.py", "modeling_hfchat.py", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "trainer_state.json")
RUN_FILES = (REPORT, "report_loss.png", "report_eval.png")
STAGE_DATA = {"base": "the preset's pretraining mixture", "sft": "conversations", "dpo": "preference pairs",
              "grpo": "prompts with rewards"}


@dataclass
class UploadPlan:
    """A folder laid out exactly as the repository will be, and the commit operations that upload it."""

    folder: Path
    repo_id: str
    operations: list


def stage_datasets(stage_dir: Path) -> list[str]:
    """The datasets a post-training stage names in its TRL model card (``datasets:`` front matter), if any."""
    from huggingface_hub import metadata_load

    readme = stage_dir / "README.md"
    names = (metadata_load(readme) or {}).get("datasets") if readme.is_file() else None
    if isinstance(names, str):
        names = names.split(",")
    return [name.strip() for name in names or [] if name and name.strip()]


def card_eval_results(results: dict) -> list:
    """`huggingface_hub.EvalResult` entries (the card's ``model-index``) for every known task's metrics."""
    from huggingface_hub import EvalResult

    entries = []
    for task, metrics in results.items():
        facts = FACTS.get(task)
        if facts is None or facts.dataset_name is None:
            continue
        for metric, value in scores(metrics).items():
            if not isinstance(value, (int, float)):
                continue
            entries.append(EvalResult(task_type="text-generation", dataset_type=facts.source["path"],
                                      dataset_name=facts.dataset_name, dataset_config=facts.source.get("name"),
                                      dataset_split=facts.source.get("split"), metric_type=metric,
                                      metric_name=f"{task} {metric}", metric_value=round(float(value), 4)))
    return entries


def model_card(model_dir: str | os.PathLike, repo_id: str, *, exported_dir: str | os.PathLike | None = None,
               base_model: str | None = None, license: str = "apache-2.0"):
    """The `huggingface_hub.ModelCard` for ``model_dir`` (an hfchat folder, in a run folder or not) as ``repo_id``;
    with ``exported_dir``, the card of that Llama/Qwen3 export of it."""
    from huggingface_hub import ModelCard, ModelCardData

    from .export.serve_commands import serve_command

    model_dir = Path(model_dir)
    if not CARD_TEMPLATE.is_file():
        raise FileNotFoundError(f"no model card template at {CARD_TEMPLATE}; run hfchat from a clone of the repository")
    config = json.loads((Path(exported_dir or model_dir) / "config.json").read_text())
    exported = config["model_type"] if exported_dir else None
    run, stage = run_of(model_dir)
    stages = [s for s in STAGES if run is not None and (run / s).is_dir()]
    stages = stages[:stages.index(stage) + 1] if stage in stages else stages
    results = read_eval_results(run, stage) if run is not None else {}
    trained_on = {name: stage_datasets(run / name) for name in stages} if run else {}
    datasets = sorted({d for names in trained_on.values() for d in names}
                      | {FACTS[task].source["path"] for task in results if task in FACTS and FACTS[task].dataset_name})
    datasets = [d for d in datasets if not d.startswith("builtin:")]  # hub ids only (builtin data ships in hfchat)
    card_data = ModelCardData(
        library_name="transformers", pipeline_tag="text-generation", license=license,
        tags=["hfchat", *stages, "chat", "text-generation"] + ([exported] if exported else ["custom_code"]),
        datasets=datasets or None, base_model=base_model if stage != "base" else None,
        model_name=repo_id.split("/")[-1], eval_results=card_eval_results(results) or None)
    qk_norm = config.get("qk_norm", config.get("model_type") == "qwen3")
    target = "qwen3" if qk_norm else "llama"
    parameters = format_value(parameter_count(Path(exported_dir or model_dir)), "count")
    training_rows = []
    timings = read_timings(run) if run is not None else {}
    for name in stages:
        summary = stage_summary(run, name, timings)
        training_rows.append({"stage": name, "data": ", ".join(trained_on.get(name) or []) or STAGE_DATA[name],
                              "steps": format_value(summary["steps"], "count"),
                              "tokens": format_value(summary["tokens"], "count"),
                              "seconds": format_value(summary["seconds"], "seconds")})
    if not training_rows:
        training_rows.append({"stage": stage or "-", "data": "-", "steps": "-", "tokens": "-", "seconds": "-"})
    commands = [f"# TGI\n{serve_command(repo_id, 'tgi', exported=bool(exported))}",
                f"# vLLM\n{serve_command(repo_id, 'vllm', exported=bool(exported))}",
                f"# llama.cpp\n{serve_command(repo_id, 'llamacpp')}"]
    return ModelCard.from_template(
        card_data, template_path=str(CARD_TEMPLATE), repo_id=repo_id, model_name=repo_id.split("/")[-1],
        summary=(f"A {parameters}-parameter chat model ({stage or 'hfchat'} stage)" if stage != "base"
                 else f"A {parameters}-parameter base language model") + ", trained from scratch with hfchat.",
        stages=stages or [stage or "hfchat"], exported=exported,
        exported_class="Qwen3ForCausalLM" if target == "qwen3" else "LlamaForCausalLM", exported_target=target,
        remote_code_kwarg="" if exported else ", trust_remote_code=True",
        architecture=("transformers' " + config["architectures"][0]) if exported else
        "hfchat GPT (pre-norm decoder, RMSNorm, rotary embeddings, grouped-query attention"
        + (", QK-norm" if qk_norm else "") + ", no biases)",
        parameters=parameters, layers=config.get("num_hidden_layers"), hidden=config.get("hidden_size"),
        heads=config.get("num_attention_heads"), kv_heads=config.get("num_key_value_heads"),
        mlp=f"{config.get('hidden_act')} ({'gated' if config.get('hidden_act') == 'silu' else 'ungated'}), "
            f"{config.get('intermediate_size')} wide",
        context=config.get("max_position_embeddings"), vocab=config.get("vocab_size"),
        training_rows=training_rows, eval_table=eval_table({stage: results}) if results else "",
        eval_note="Items per task: " + ", ".join(f"{task} {metrics['n']}" for task, metrics in results.items()
                                                 if "n" in metrics) + "." if results else "",
        report=bool(run and (run / "report.md").is_file()), serve_commands="\n\n".join(commands), license=license)


def upload_plan(model_dir: str | os.PathLike, repo_id: str, folder: str | os.PathLike, *, exported: bool = False,
                base_model: str | None = None) -> UploadPlan:
    """Lay out in ``folder`` exactly what ``push`` uploads, and list the commit operations. With ``exported``, the
    model is first exported to transformers' own Llama/Qwen3 class (``hfchat export``) and that is what goes up."""
    from huggingface_hub import CommitOperationAdd

    model_dir, folder = Path(model_dir), Path(folder)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"--model {model_dir}: not a model folder (no config.json)")
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"--repo-id {repo_id!r}: expected USER/NAME")
    folder.mkdir(parents=True, exist_ok=True)
    if exported:
        from .export import export_transformers

        config = json.loads((model_dir / "config.json").read_text())
        target = "qwen3" if config.get("qk_norm", True) else "llama"
        export_transformers(model_dir, target, folder)
    else:
        for pattern in UPLOADED:
            for path in model_dir.glob(pattern):
                shutil.copy2(path, folder / path.name)
    run, _ = run_of(model_dir)
    for name in RUN_FILES:
        if run is not None and (run / name).is_file():
            shutil.copy2(run / name, folder / name)
    card = model_card(model_dir, repo_id, exported_dir=folder if exported else None, base_model=base_model)
    card.save(folder / "README.md")
    operations = [CommitOperationAdd(path_in_repo=path.relative_to(folder).as_posix(), path_or_fileobj=str(path))
                  for path in sorted(folder.rglob("*")) if path.is_file()]
    return UploadPlan(folder, repo_id, operations)


def push(model_dir: str | os.PathLike, repo_id: str, *, private: bool = False, revision: str | None = None,
         exported: bool = False, base_model: str | None = None, token: str | None = None) -> str:
    """Create ``repo_id`` (if needed) and upload the planned folder in one commit; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        plan = upload_plan(model_dir, repo_id, Path(tmp) / "upload", exported=exported, base_model=base_model)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.create_commit(repo_id, operations=plan.operations, revision=revision,
                                   commit_message=f"Upload {Path(model_dir).name} with hfchat")
    return commit.commit_url
