"""Checks that need a CUDA device: bf16 SDPA parity and flash-attention-2. Skipped on CPU machines (and in CI)."""

import pytest
import torch

from tests.helpers import tiny_model

pytestmark = pytest.mark.gpu


def _logits(model, implementation, input_ids, attention_mask):
    model.set_attn_implementation(implementation)
    with torch.no_grad():
        return model(input_ids, attention_mask=attention_mask).logits.float()


def test_bf16_sdpa_matches_fp32_eager_on_gpu():
    model = tiny_model().cuda()
    input_ids = torch.randint(0, 512, (2, 64), device="cuda")
    attention_mask = torch.ones_like(input_ids)
    reference = _logits(model, "eager", input_ids, attention_mask)
    model = model.to(torch.bfloat16)
    got = _logits(model, "sdpa", input_ids, attention_mask)
    assert (got - reference).abs().max() / reference.abs().max() < 0.05


def test_flash_attention_2_matches_sdpa_with_padding_and_packing():
    pytest.importorskip("flash_attn")
    model = tiny_model().cuda().to(torch.bfloat16)
    input_ids = torch.randint(0, 512, (2, 32), device="cuda")
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :8] = 0
    sdpa = _logits(model, "sdpa", input_ids, attention_mask)
    flash = _logits(model, "flash_attention_2", input_ids, attention_mask)
    real = attention_mask.bool()
    assert (sdpa[real] - flash[real]).abs().max() < 0.05
    # Packed rows: positions restart at each document.
    position_ids = torch.tensor([list(range(12)) + list(range(20))], device="cuda")
    packed = input_ids[1:]
    with torch.no_grad():
        packed_logits = model(packed, position_ids=position_ids).logits.float()
        first = model(packed[:, :12]).logits.float()
    assert (packed_logits[:, :12] - first).abs().max() < 0.05
