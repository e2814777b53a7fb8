"""nanochat's conversation format as a transformers chat template.

It renders what nanochat's ``render_conversation`` tokenizes: ``<|bos|>``, then each user turn between
``<|user_start|>`` and ``<|user_end|>`` (a leading system message is prefixed to the first user turn with a blank
line, as nanochat does), each assistant turn between ``<|assistant_start|>`` and ``<|assistant_end|>``. An assistant
turn is a string or a list of parts: ``text``, ``python`` (a tool call, between ``<|python_start|>`` and
``<|python_end|>``) and ``python_output`` (the tool's answer, between ``<|output_start|>`` and ``<|output_end|>``).
The ``{% generation %}`` blocks cover what nanochat trains on: the assistant's text, its tool calls and its
``<|assistant_end|>``, not the tool outputs. ``add_generation_prompt`` ends with ``<|assistant_start|>`` (nanochat's
``render_for_completion``).
"""

BOS = "<|bos|>"
END_OF_TURN = "<|assistant_end|>"

CHAT_TEMPLATE = (
    "{%- set system = namespace(text='') -%}"
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}{%- set content = message['content'] -%}"
    "{%- elif message['role'] != 'assistant' -%}"
    "{%- set content = message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text')"
    " | join('') -%}"
    "{%- endif -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- set system.text = content + '\n\n' -%}"
    "{%- elif message['role'] == 'user' -%}"
    "{{- '<|user_start|>' + system.text + content + '<|user_end|>' -}}"
    "{%- set system.text = '' -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '<|assistant_start|>' -}}"
    "{%- if message['content'] is string -%}"
    "{%- generation -%}{{- message['content'] + '<|assistant_end|>' -}}{%- endgeneration -%}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{%- generation -%}{{- part['text'] -}}{%- endgeneration -%}"
    "{%- elif part['type'] == 'python' -%}"
    "{%- generation -%}{{- '<|python_start|>' + part['text'] + '<|python_end|>' -}}{%- endgeneration -%}"
    "{%- elif part['type'] == 'python_output' -%}{{- '<|output_start|>' + part['text'] + '<|output_end|>' -}}"
    "{%- else -%}"
    "{{- raise_exception('nanochat assistant parts are text, python or python_output, not ' + part['type']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- generation -%}{{- '<|assistant_end|>' -}}{%- endgeneration -%}"
    "{%- endif -%}"
    "{%- else -%}"
    "{{- raise_exception('nanochat conversations have system, user and assistant messages, not ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant_start|>' -}}{%- endif -%}"
)
