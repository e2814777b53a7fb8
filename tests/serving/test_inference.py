"""Generation: the batching engine against plain `generate`, sampling parameters, stop strings, cancellation, and
chat turns with calculator calls and context trimming (a tiny model that memorised its conversations)."""

import threading

import pytest
import torch

from hfchat.inference import Engine, SamplingParams
from hfchat.inference.chat import ChatTurn, ContextError, encode_prompt, fit_conversation
from hfchat.inference.loading import load_model
from tests.helpers import CHAT_CONVERSATIONS


@pytest.fixture(scope="module")
def engine(chat_model_dir):
    engine = Engine.from_pretrained(str(chat_model_dir))
    yield engine
    engine.close()


def _prompt(engine, text):
    return encode_prompt(engine.tokenizer, [{"role": "user", "content": text}])


def test_sampling_params_name_the_bad_field():
    for bad, message in [({"temperature": -1}, "temperature must be >= 0"), ({"top_p": 0}, r"top_p must be in \(0, 1\]"),
                         ({"top_k": -2}, "top_k must be >= 0"), ({"min_p": 1.0}, r"min_p must be in \[0, 1\)"),
                         ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
                         ({"repetition_penalty": 0}, "repetition_penalty must be > 0"),
                         ({"temperature": "hot"}, "temperature must be a number"),
                         ({"stop": [""]}, "stop must be a list of non-empty strings"), ({"seed": 1.5}, "seed")]:
        with pytest.raises(ValueError, match=message):
            SamplingParams(**bad)


def test_greedy_matches_plain_generate_alone_and_in_a_batch(engine):
    prompts = [_prompt(engine, "Hello"), _prompt(engine, "What is 17 * 23?"), engine.tokenizer("Once")["input_ids"]]
    model = engine.model
    expected = []
    for ids in prompts:
        out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=24,
                             eos_token_id=sorted(engine.end_ids), pad_token_id=engine.pad_id)
        expected.append(out[0, len(ids):].tolist())
    batched = engine.generate(prompts, SamplingParams(max_new_tokens=24))
    assert engine.prefills >= 1
    for stream, want in zip(batched, expected):
        got = [t.id for t in stream.tokens]
        assert got == want[:len(got)] and (len(got) == 24 or got[-1] in engine.end_ids)
    assert batched[0].text == "Hi! How can I help you today?" and batched[0].finish_reason == "eos_token"
    assert all(t.logprob <= 0 for s in batched for t in s.tokens)


def test_seeded_sampling_is_the_same_alone_and_in_a_batch(engine):
    ids = engine.tokenizer("The quick brown")["input_ids"]
    params = SamplingParams(max_new_tokens=16, temperature=1.5, seed=7)
    alone = engine.submit(ids, params).result()
    together = engine.generate([ids, _prompt(engine, "Hello"), ids], params)
    assert [t.id for t in together[0].tokens] == [t.id for t in alone.tokens] == [t.id for t in together[2].tokens]
    other = engine.submit(ids, params.replace(seed=8)).result()
    assert [t.id for t in other.tokens] != [t.id for t in alone.tokens]


def test_truncating_samplers_reduce_to_greedy(engine):
    ids = engine.tokenizer("The quick brown")["input_ids"]
    greedy = [t.id for t in engine.submit(ids, SamplingParams(max_new_tokens=12)).result().tokens]
    for narrow in ({"top_k": 1}, {"top_p": 1e-6}, {"min_p": 0.999}):
        stream = engine.submit(ids, SamplingParams(max_new_tokens=12, temperature=1.0, seed=1, **narrow)).result()
        assert [t.id for t in stream.tokens] == greedy, narrow
    # The repetition penalty is transformers' (CTRL's): greedy with it matches `generate(repetition_penalty=...)`.
    penalised = engine.submit(ids, SamplingParams(max_new_tokens=12, repetition_penalty=1.8)).result()
    reference = engine.model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=12, repetition_penalty=1.8,
                                      eos_token_id=sorted(engine.end_ids), pad_token_id=engine.pad_id)
    assert [t.id for t in penalised.tokens] == reference[0, len(ids):].tolist()[:len(penalised.tokens)]
    assert [t.id for t in penalised.tokens] != greedy


def test_stream_text_stop_strings_and_limits(engine):
    stream = engine.submit(_prompt(engine, "Hello"), SamplingParams(max_new_tokens=50, stop=["help"]))
    pieces = [token.text for token in stream]
    assert stream.text == "Hi! How can I " and "".join(pieces) == stream.text
    assert stream.finish_reason == "stop_sequence"
    short = engine.submit(_prompt(engine, "Sing"), SamplingParams(max_new_tokens=5)).result()
    assert short.finish_reason == "length" and len(short.tokens) == 5 and short.text.startswith("la la")


def test_cancel_stops_a_stream_and_the_engine_keeps_serving(engine):
    stream = engine.submit(_prompt(engine, "Sing"), SamplingParams(max_new_tokens=1500))
    for count, _ in enumerate(stream, start=1):
        if count == 3:
            stream.cancel()
    assert stream.finish_reason == "cancelled" and len(stream.tokens) < 50
    assert engine.submit(_prompt(engine, "Hello"), SamplingParams()).result().text.startswith("Hi!")


def test_concurrent_submissions_share_batches(engine):
    steps, rows = engine.decode_steps, engine.decode_rows
    streams, threads = [], []
    barrier = threading.Barrier(8)

    def ask():
        barrier.wait()
        streams.append(engine.submit(_prompt(engine, "Sing"), SamplingParams(max_new_tokens=40)).result())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(streams) == 8 and all(len(s.tokens) == 40 for s in streams)
    assert (engine.decode_rows - rows) / (engine.decode_steps - steps) > 2  # rows generated per step


def test_requests_join_and_leave_a_running_batch_without_changing_their_replies(engine):
    song, hello = _prompt(engine, "Sing"), _prompt(engine, "Hello")
    alone = [engine.submit(ids, SamplingParams(max_new_tokens=n)).result() for ids, n in ((song, 300), (hello, 40))]
    seeded = engine.submit(song, SamplingParams(max_new_tokens=60, temperature=1.0, seed=5)).result()
    steps, rows = engine.decode_steps, engine.decode_rows
    long = engine.submit(song, SamplingParams(max_new_tokens=300))
    for count, _ in enumerate(long, start=1):
        if count == 20:  # join while the song is being generated
            short = engine.submit(hello, SamplingParams(max_new_tokens=40))
            sampled = engine.submit(song, SamplingParams(max_new_tokens=60, temperature=1.0, seed=5))
    assert [t.id for t in long.tokens] == [t.id for t in alone[0].tokens]
    assert short.result().text == alone[1].text == "Hi! How can I help you today?"
    assert [t.id for t in sampled.result().tokens] == [t.id for t in seeded.tokens]
    assert engine.decode_rows - rows > engine.decode_steps - steps  # they did share steps with the song


def test_streamed_text_never_splits_a_character(engine):
    from hfchat.inference.engine import Stream

    text = "안녕하세요, 세계! 🙂🚀 naïve café"
    stream = Stream(engine, [1], SamplingParams(max_new_tokens=100))
    for token_id in engine.tokenizer(text, add_special_tokens=False)["input_ids"]:
        stream._add(token_id, 0.0)
    pieces = [t.text for t in stream.tokens]
    assert "".join(pieces) == text and not any("\ufffd" in piece for piece in pieces)


def test_chat_turn_runs_the_calculator_and_continues(engine):
    events = list(ChatTurn(engine, CHAT_CONVERSATIONS[1][:1], SamplingParams(max_new_tokens=60)))
    kinds = [e.type for e in events]
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("done")
    call = next(e for e in events if e.type == "tool_call").tool_call
    assert call == {"name": "calculator", "arguments": {"expression": "17*23"}}
    assert next(e for e in events if e.type == "tool_result").result == "391"  # computed by the sandbox
    assert "".join(e.text for e in events if e.type == "text") == "The answer is 391."
    done = events[-1]
    assert done.finish_reason == "eos_token" and done.messages == CHAT_CONVERSATIONS[1][1:]


def test_chat_turn_stops_at_the_call_when_tools_are_not_executed(engine):
    events = list(ChatTurn(engine, CHAT_CONVERSATIONS[1][:1], execute_tools=False))
    assert [e.type for e in events] == ["tool_call", "done"] and events[-1].finish_reason == "tool_calls"


def test_long_conversations_drop_the_oldest_turns_but_keep_the_system_prompt(engine):
    tokenizer = engine.tokenizer
    system = {"role": "system", "content": "Be brief."}
    history = [system]
    for i in range(30):
        history += [{"role": "user", "content": f"Question {i}: " + "word " * 40},
                    {"role": "assistant", "content": "Answer " * 20}]
    history.append({"role": "user", "content": "Hello"})
    ids, dropped = fit_conversation(tokenizer, history, max_prompt_tokens=400)
    kept = history[:1] + history[1 + dropped:]
    assert 0 < dropped < len(history) - 2 and len(ids) <= 400
    assert ids == encode_prompt(tokenizer, kept) and kept[0] == system and kept[1]["role"] == "user"
    done = list(ChatTurn(engine, history, SamplingParams(max_new_tokens=1900)))[-1]  # 148 prompt tokens fit
    assert done.dropped_messages == 60 and done.prompt_tokens <= 148 and done.finish_reason != "error"
    with pytest.raises(ContextError, match="the newest message needs .* prompt tokens but only 100 fit"):
        fit_conversation(tokenizer, [system, {"role": "user", "content": "word " * 200}], max_prompt_tokens=100)


def test_unloadable_models_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        load_model(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="does not load as a causal language model"):
        load_model(str(tmp_path))
