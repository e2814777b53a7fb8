"""Malformed request bodies get a JSON 4xx and leave the server serving: invalid UTF-8, binary bytes, a wrong
content type, a body over --max-body-bytes, JSON nested too deeply; then random JSON and random bytes at every
route (hypothesis, bounded)."""

import json
import os

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfchat.serving.body_guard import MAX_DEPTH
from hfchat.serving.launch import running_server

pytestmark = pytest.mark.slow

MAX_BODY = 4096
POST_ROUTES = ["/v1/chat/completions", "/v1/completions", "/generate", "/generate_stream", "/", "/tokenize"]
GET_ROUTES = ["/v1/models", "/info", "/health", "/metrics", "/"]
HELLO = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def server(chat_model_dir):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    with running_server(chat_model_dir, "--max-new-tokens", "4", "--max-body-bytes", str(MAX_BODY), env=env) as url:
        yield url


def post(url, body: bytes, content_type="application/json", **kwargs):
    return httpx.post(url, content=body, headers={"content-type": content_type}, timeout=60, **kwargs)


def assert_json_error(response, status, words):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    message = payload["error"]["message"] if isinstance(payload["error"], dict) else payload["error"]
    assert words in message, message
    return payload


def assert_healthy(server):
    assert httpx.get(f"{server}/health", timeout=30).status_code == 200
    reply = httpx.post(f"{server}/v1/chat/completions", json=HELLO, timeout=60)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]


def test_malformed_bodies_get_a_json_4xx_naming_the_problem(server):
    surrogate = b'{"messages": [{"role": "user", "content": "\xed\xb3\xbf"}]}'  # the bytes of a lone surrogate
    payload = assert_json_error(post(f"{server}/v1/chat/completions", surrogate), 400, "not valid UTF-8 (byte 43)")
    assert payload["error"]["type"] == "invalid_request_error" and payload["error"]["param"] == "body"
    assert_json_error(post(f"{server}/generate", b"\xff\xfe\x00\x01\x02binary"), 400, "not valid UTF-8")
    assert_json_error(post(f"{server}/generate", b'{"inputs": "Hi",'), 400, "not valid JSON")
    assert_json_error(post(f"{server}/v1/chat/completions", json.dumps(HELLO).encode(), "text/plain"), 415,
                      "content-type must be application/json")
    assert_json_error(post(f"{server}/v1/completions", b'{"prompt": "' + b"a" * MAX_BODY + b'"}'), 413,
                      f"at most {MAX_BODY} are allowed")
    chunked = iter([b'{"prompt": "'] + [b"a" * 1000] * 8 + [b'"}'])  # no content-length: counted as it arrives
    assert_json_error(post(f"{server}/v1/completions", chunked), 413, f"over {MAX_BODY} bytes")
    assert_json_error(post(f"{server}/v1/chat/completions", b"[" * 2000 + b"]" * 2000), 400, "nests")

    def nested(levels):
        return b'{"inputs": "Hi", "parameters": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}"

    assert_json_error(post(f"{server}/generate", nested(MAX_DEPTH)), 400, f"more than {MAX_DEPTH} deep")
    assert post(f"{server}/generate", nested(MAX_DEPTH - 1)).status_code == 200  # an unknown parameter is a hint
    assert_healthy(server)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["messages", "prompt", "inputs", "parameters", "max_tokens", "stream", "role", "content",
                         "temperature", "n", "tools", "stop", "logprobs", "details"]) | st.text(max_size=8),
        children, max_size=4),
    max_leaves=12)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(POST_ROUTES), value=json_values)
def test_random_json_at_every_route_never_gets_a_5xx(server, route, value):
    response = post(f"{server}{route}", json.dumps(value).encode())
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        response.json()


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(POST_ROUTES + GET_ROUTES), body=st.binary(max_size=64),
       content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_random_bytes_at_every_route_never_get_a_5xx(server, route, body, content_type):
    method = "POST" if route in POST_ROUTES else "GET"
    response = httpx.request(method, f"{server}{route}", content=body, headers={"content-type": content_type},
                             timeout=60)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        response.json()


def test_the_server_is_healthy_after_the_fuzzing(server):
    assert_healthy(server)
