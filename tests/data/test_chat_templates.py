"""Which chat template `assistant_only_loss` trains with, for hfchat's models and for models that bring their own:
hfchat's markers, TRL's training templates, hfchat's ChatML one where it renders like the model's own (SmolLM2's,
a real one), and a clear refusal otherwise."""

import copy
from pathlib import Path

import pytest
import trl
from transformers import AutoTokenizer

from hfchat.training.chat_templates import CHATML, OWN, TRL_TRAINING, prepare_training_template

CONVERSATION = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4, of course."},
                {"role": "user", "content": "And 3 + 3?"}, {"role": "assistant", "content": "6"}]


def assistant_text(tokenizer, messages) -> str:
    """The text under the assistant mask that `return_assistant_tokens_mask` computes (what TRL trains on)."""
    encoded = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    kept = [token for token, keep in zip(encoded["input_ids"], encoded["assistant_masks"]) if keep]
    return tokenizer.decode(kept)


def test_smollm2_trains_on_its_replies_with_a_template_that_renders_as_its_own(smollm2_dir):
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    own = copy.deepcopy(tokenizer)
    assert prepare_training_template(tokenizer, "SmolLM2") == CHATML
    for messages in (CONVERSATION, CONVERSATION[:1], [{"role": "system", "content": "Be terse."}, *CONVERSATION]):
        for prompt in (False, True):
            assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt) == \
                own.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
    assert "You are a helpful AI assistant named SmolLM" in tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert assistant_text(tokenizer, CONVERSATION) == "4, of course.<|im_end|>6<|im_end|>"


def test_hfchat_keeps_its_own_and_trl_families_keep_theirs(tiny_tokenizer):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    assert prepare_training_template(tokenizer, "hfchat") == OWN
    llama3 = (Path(trl.__file__).parent / "chat_templates" / "llama3.jinja").read_text()
    tokenizer.chat_template = llama3
    assert prepare_training_template(tokenizer, "a Llama 3 model") == TRL_TRAINING
    assert tokenizer.chat_template == llama3  # TRL's SFTTrainer swaps its training version in by itself


@pytest.mark.parametrize("template", [
    # not ChatML: a Zephyr-style template
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
    # ChatML that drops the replies of earlier turns: hfchat's template would render something else
    "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}{{ '<|im_start|>' + m['role'] + '\\n' + "
    "m['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}",
])
def test_other_templates_are_refused_naming_the_flag(tiny_tokenizer, template):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = template
    with pytest.raises(ValueError, match=r"assistant_only_loss: true needs .* of 'my-model' has none.*"
                                         r"assistant_only_loss: false"):
        prepare_training_template(tokenizer, "my-model")
    assert tokenizer.chat_template == template
