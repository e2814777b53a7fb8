"""A chat template that `assistant_only_loss` can train with, for a model that brings its own.

TRL's SFT trainer computes the assistant-only loss mask from ``{% generation %}`` markers in the chat template, and
most models' templates have none. `prepare_training_template` decides, before anything is trained:

1. the template has markers: nothing to do (hfchat's own);
2. TRL ships a training version of it (Llama 3, Qwen 2.5 and 3, Gemma, Phi-3, ...: `get_training_chat_template`):
   the trainer swaps that in itself, and the saved model keeps its own template;
3. the template is plain ChatML (SmolLM, many fine-tunes), possibly with a default system prompt: hfchat's ChatML
   template with markers replaces it, after rendering every probe conversation exactly as the model's own does,
   so what the model sees at inference does not change;
4. otherwise a `ValueError` naming ``assistant_only_loss`` and the ways out.

Example:
    >>> from hfchat import train_tokenizer
    >>> tok = train_tokenizer(["hello world"] * 50, vocab_size=300)
    >>> tok.chat_template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    ...                      "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
    ...                      "{{ '<|im_start|>assistant\\n' }}{% endif %}")
    >>> prepare_training_template(tok, "my-model") == CHATML
    True
    >>> "{% generation %}" in tok.chat_template
    True
"""

from __future__ import annotations

import json
import re

from trl.chat_template_utils import get_training_chat_template, has_generation_markers

# ChatML, the assistant's text and its closing <|im_end|> inside the markers; DEFAULT_SYSTEM is replaced by the
# model's default system prompt as a Jinja string literal ('' for none).
_CHATML_TRAINING = (
    "{%- set default_system = DEFAULT_SYSTEM %}"
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' and default_system %}"
    "{{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# What `prepare_training_template` says the loss mask comes from.
OWN = "the model's own chat template"
TRL_TRAINING = "TRL's training version of the model's chat template"
CHATML = "hfchat's ChatML template with markers, which renders as the model's own"
_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system\n(.*)<\|im_end\|>\n", re.DOTALL)
_PROBE = "\U000f0001"  # a private-use character no template treats specially

# Conversations both templates must render identically, each with and without the generation prompt.
_PROBES = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello.\nHow can I help?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
     {"role": "assistant", "content": "6"}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}],
]


def _render(tokenizer, template: str | None, messages: list[dict], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=prompt)


def chatml_training_template(tokenizer) -> str | None:
    """hfchat's ChatML template with markers, carrying the tokenizer's default system prompt, when it renders every
    probe exactly as the tokenizer's own template; None when the tokenizer's template is not plain ChatML."""
    own = tokenizer.chat_template
    try:
        alone = _render(tokenizer, None, [{"role": "user", "content": _PROBE}], False)
        head = alone.removesuffix(f"<|im_start|>user\n{_PROBE}<|im_end|>\n")
        if head == alone:
            return None
        default = _DEFAULT_SYSTEM.fullmatch(head)
        if head and not default:
            return None
        literal = json.dumps(default.group(1) if default else "")
        template = _CHATML_TRAINING.replace("DEFAULT_SYSTEM", literal)
        for messages in _PROBES:
            for prompt in (False, True):
                if _render(tokenizer, template, messages, prompt) != _render(tokenizer, own, messages, prompt):
                    return None
    except Exception:  # a template that fails on a probe (a required tool schema, a strict role order) is not ChatML
        return None
    return template


def prepare_training_template(tokenizer, name: str) -> str:
    """Make ``tokenizer`` (of the model ``name``) trainable with ``assistant_only_loss``; return which template the
    loss mask comes from, or raise a `ValueError`."""
    own = tokenizer.chat_template
    if isinstance(own, dict):
        own = own.get("default")
    if own and has_generation_markers(own):
        return OWN
    try:
        if get_training_chat_template(tokenizer) is not None:
            return TRL_TRAINING
    except ValueError:
        pass  # TRL has no training version of this template
    template = chatml_training_template(tokenizer)
    if template is not None:
        tokenizer.chat_template = template
        return CHATML
    raise ValueError(
        "assistant_only_loss: true needs a chat template with {% generation %} markers around the assistant's text; "
        f"the tokenizer of {name!r} has none, TRL has no training version of it and it is not plain ChatML. Set "
        "assistant_only_loss: false (loss on the whole conversation), or add the markers to its chat_template"
    )
