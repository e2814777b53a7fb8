"""An engine failure reaches the client as an error, never as a normal reply: a 500 JSON error, or an error event
in a stream that has started; the server then keeps serving. The model's forward is made to raise, in process."""

import json

import pytest
from fastapi.testclient import TestClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from hfchat.inference import Engine
from hfchat.serving.app import ServeConfig, create_app

FAILURE = "the accelerator fell over"
CHAT = {"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 8, "temperature": 0}
COMPLETION = {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}


@pytest.fixture(scope="module")
def failing(chat_model_dir):
    """(a client of the app, a function making the model's forward raise after N more calls; None: never)."""
    model = AutoModelForCausalLM.from_pretrained(chat_model_dir)
    engine = Engine(model, AutoTokenizer.from_pretrained(chat_model_dir))
    forward, calls = model.forward, {"left": None}

    def flaky(*args, **kwargs):
        if calls["left"] is not None:
            if calls["left"] == 0:
                raise RuntimeError(FAILURE)
            calls["left"] -= 1
        return forward(*args, **kwargs)

    model.forward = flaky

    def fail_after(count):
        calls["left"] = count

    with TestClient(create_app(engine, ServeConfig())) as client:
        yield client, fail_after
    engine.close()


def stream_events(client, route, body):
    with client.stream("POST", route, json={**body, "stream": True}) as response:
        assert response.status_code == 200
        data = [line[len("data:"):].strip() for line in response.iter_lines() if line.startswith("data:")]
    return [json.loads(item) for item in data if item != "[DONE]"], "[DONE]" in data


@pytest.mark.parametrize(("route", "body"), [("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT)])
def test_an_engine_failure_is_a_500_json_error(failing, route, body):
    client, fail_after = failing
    fail_after(0)
    response = client.post(route, json=body)
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error" and FAILURE in error["message"]
    fail_after(None)
    assert client.post(route, json=body).status_code == 200


@pytest.mark.parametrize(("route", "body"), [("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT)])
def test_a_stream_that_fails_midway_ends_with_an_error_event(failing, route, body):
    client, fail_after = failing
    fail_after(2)  # the prompt's pass and one decode step succeed (a token or two reach the client), then a failure
    events, done = stream_events(client, route, body)
    assert FAILURE in events[-1]["error"]["message"] and not done
    assert not any(choice.get("finish_reason") for event in events[:-1] for choice in event["choices"])
    fail_after(None)
    events, done = stream_events(client, route, body)
    assert done and events[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_tgi_generate_reports_the_failure(failing):
    client, fail_after = failing
    fail_after(0)
    response = client.post("/generate", json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4}})
    assert response.status_code == 500 and response.json()["error_type"] == "generation"
    assert FAILURE in response.json()["error"]
    fail_after(None)


def test_every_request_gives_its_slot_back(failing):
    """However a request ends (a reply, a stream, a failure before or during a stream, a rejected body), the count of
    requests in flight that the 429 limit reads returns to zero."""
    client, fail_after = failing
    tgi = {"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4}}
    for route, body in (("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT), ("/generate", tgi)):
        fail_after(0)
        assert client.post(route, json=body).status_code == 500
        fail_after(None)
        assert client.post(route, json=body).status_code == 200
        assert client.post(route, json={**body, "max_tokens": 10**6, "parameters": {"max_new_tokens": 10**6}}
                           ).status_code == 422
    for route, body in (("/v1/completions", COMPLETION), ("/v1/chat/completions", CHAT), ("/generate_stream", tgi)):
        fail_after(2)
        stream_events(client, route, body)
        fail_after(None)
        stream_events(client, route, body)
    assert "hfchat_active_requests 0" in client.get("/metrics").text.splitlines()
