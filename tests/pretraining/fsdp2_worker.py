"""One training run under `torchrun` on CPU over gloo, for tests/pretraining/test_fsdp2.py.

    python -m torch.distributed.run --nproc_per_node 2 tests/pretraining/fsdp2_worker.py \
        --wrap fsdp2 --steps 6 --out OUT [--save-at 3] [--resume CHECKPOINT]

``--wrap ddp`` or ``fsdp2`` (torch's ``fully_shard``, one unit per ``_no_split_modules`` layer as
``accelerate_configs/fsdp2.yaml`` asks, then the root). The model is the pretraining recipe's (`new_model_config`),
trained with its optimizers (Muon and AdamW groups) and gradient clipping on token rows that depend only on the step
and the rank (arithmetic sequences: the loss falls), so that a resumed run sees the batches the uninterrupted one saw. Checkpoints are
`torch.distributed.checkpoint` folders of the sharded model and optimizer state; OUT/losses.json holds the mean loss
of each step over the ranks and OUT/model.pt (rank 0) the full final state dict.
"""

import argparse
import json
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from hfchat import HFChatForCausalLM
from hfchat.training import PretrainConfig
from hfchat.training.loop import new_model_config
from hfchat.training.optim import build_optimizers

CONFIG = PretrainConfig(output_dir="unused", depth=2, head_dim=32, seq_len=64, vocab_size=320, learning_rate=0.02,
                        embedding_learning_rate=0.1, unembedding_learning_rate=0.01)
ROWS = 4


def batch(step: int, rank: int) -> torch.Tensor:
    """Rows of arithmetic sequences (modulo the vocabulary), learnable from two tokens, drawn from (step, rank)."""
    generator = torch.Generator().manual_seed(1000 * step + rank)
    start = torch.randint(0, CONFIG.vocab_size, (ROWS, 1), generator=generator)
    stride = torch.randint(1, 4, (ROWS, 1), generator=generator)
    return (start + stride * torch.arange(CONFIG.seq_len + 1)) % CONFIG.vocab_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wrap", choices=("ddp", "fsdp2"), required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--save-at", type=int, default=None)
    parser.add_argument("--resume", type=Path, default=None)
    args = parser.parse_args()
    dist.init_process_group("gloo", timeout=timedelta(seconds=120))  # a hang becomes an error
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = HFChatForCausalLM(new_model_config(CONFIG, CONFIG.vocab_size))
    if args.wrap == "fsdp2":
        for module in model.modules():
            if type(module).__name__ in model._no_split_modules:
                fully_shard(module)
        fully_shard(model)
        forward = model
    else:
        forward = DistributedDataParallel(model)
    optimizers = build_optimizers(model, CONFIG)

    def training_state(step: int) -> dict:
        state = {"model": get_model_state_dict(model), "step": step}
        state.update({f"optimizer{i}": get_optimizer_state_dict(model, o) for i, o in enumerate(optimizers)})
        return state

    start = 0
    if args.resume is not None:
        state = training_state(0)
        dcp.load(state, checkpoint_id=str(args.resume))  # in place, each rank its own shards
        set_model_state_dict(model, state["model"])
        for i, optimizer in enumerate(optimizers):
            set_optimizer_state_dict(model, optimizer, state[f"optimizer{i}"])
        start = int(state["step"])

    losses = []
    for step in range(start, args.steps):
        rows = batch(step, rank)
        targets = rows[:, 1:].contiguous()
        loss = forward(input_ids=rows[:, :-1], labels=targets, shift_labels=targets, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CONFIG.max_grad_norm)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append({"step": step + 1, "loss": mean.item() / dist.get_world_size()})
        if args.save_at == step + 1:
            dcp.save(training_state(step + 1), checkpoint_id=str(args.out / f"checkpoint-{step + 1}"))

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "losses.json").write_text(json.dumps(losses))
        torch.save(full, args.out / "model.pt")
    del forward  # DDP's reducer goes before its process group: torn down after it, it can hang the exit
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
