"""Reward functions on hand-written completions, in both of TRL's completion forms."""

import pytest

from hfchat.rewards import REWARDS, accuracy, final_answer, format, get_reward_functions, is_correct, length


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_accuracy_reads_the_final_answer():
    completions = [
        "3 + 4 = 7. The answer is 7.",  # right
        chat("The answer is 7."),  # conversational form
        "The answer is 8.",  # wrong
        "I think 7 is close but the answer is 9.",  # the last "answer is" counts
        "I do not know.",  # no number at all
        "The answer is 7.0.",  # same value, other spelling
        "The answer is \\boxed{7}.",
        "7",  # a bare number is read too
        "3 + 4 = {",  # an unfinished sum is not an answer (math-verify would compute it: a GRPO run exploited that)
        "3 + 4 =",
        "I had 2, then 7.",  # without an answer sentence, the last number
    ]
    assert accuracy(completions, answer=["7"] * len(completions)) == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0,
                                                                       0.0, 0.0, 1.0]


def test_accuracy_is_none_when_the_gold_answer_does_not_parse():
    assert accuracy(["The answer is 7.", "The answer is B."], answer=["not a number", "B"]) == [None, None]
    assert is_correct("The answer is 7.", "seven?!") is None


def test_accuracy_reads_gsm8k_style_thousands():
    assert accuracy(["so in total the answer is 1,200."], answer=["1200"]) == [1.0]


def test_final_answer():
    assert final_answer("Sam has 3. Then 2 more. The answer is 5.") == "5"
    assert final_answer("no sentence") == ""
    assert final_answer("so 3 + 4 = 7") == "7"
    assert final_answer("thus $\\boxed{12}$") == "\\boxed{12}$"


def test_format_wants_a_closing_answer_sentence():
    completions = ["The answer is 7.", "3 + 4 = 7.\nThe answer is 7.", chat("The answer is 12"),
                   "The answer is 7. Anything else?", "Seven.", "", "The answer is\n7."]
    assert format(completions) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_length_prefers_the_shorter_replies_of_each_prompt():
    prompts = ["p1", "p1", "p1", "p2", "p2"]
    ids = [[1] * 10, [1] * 20, [1] * 30, [1] * 5, [1] * 5]
    assert length(["a", "b", "c", "d", "e"], prompts=prompts, completion_ids=ids) == [0.5, 0.0, -0.5, 0.0, 0.0]


def test_length_counts_characters_without_token_ids():
    assert length(["ab", "abcd"], prompts=[chat("q"), chat("q")]) == [0.5, -0.5]


def test_registry_by_name():
    assert get_reward_functions(["accuracy", "format"]) == [REWARDS["accuracy"], REWARDS["format"]]
    with pytest.raises(ValueError, match="reward_funcs: unknown reward 'acuracy'; choose from accuracy, format"):
        get_reward_functions(["acuracy"])
    with pytest.raises(ValueError, match="reward_funcs: name at least one"):
        get_reward_functions([])
