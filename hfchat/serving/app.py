"""`hfchat serve`: the OpenAI and TGI HTTP APIs and a web chat page over one `Engine`.

Routes (docs/serving.md gives the fields):

- OpenAI: ``POST /v1/chat/completions`` (streaming with ``data: [DONE]``, ``usage``, ``stream_options``),
  ``POST /v1/completions``, ``GET /v1/models``.
- TGI: ``POST /`` (a list with one result, or a stream with ``"stream": true``), ``POST /generate``,
  ``POST /generate_stream``, ``GET /info``, ``GET /health``, ``GET /metrics`` (Prometheus), ``POST /tokenize``.
- ``GET /``: the web chat page.

The routes live in two routers, `openai_routes` and `tgi_routes`, over one `server.Server` (the engine, the limits,
the metrics and request slots). Generation runs on the engine's worker thread, which batches the requests waiting
at the same time, and reaches the event loop through `Stream.follow`. A client that disconnects cancels its
generation. Limits (input tokens, total tokens, concurrent requests: 429 when full),
``--api-key`` (401 without ``Authorization: Bearer KEY``) and CORS (off unless origins are given) come from
`ServeConfig`. Errors are JSON with the offending field: ``{"error": {"message", "type", "param"}}`` on ``/v1``,
``{"error": ..., "error_type": ...}`` on the TGI routes, as their clients expect.

Example (CPU, after the tiny speedrun):
    hfchat serve --model runs/tiny/sft --port 8000
    curl localhost:8000/v1/chat/completions -H 'content-type: application/json' \\
        -d '{"messages": [{"role": "user", "content": "Who are you?"}]}'
"""

from __future__ import annotations

import secrets
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..inference import Engine
from .body_guard import BodyGuard
from .config import ServeConfig
from .openai_routes import openai_router
from .server import ApiError, Server
from .tgi_routes import tgi_router


def create_app(engine: Engine, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application serving ``engine``."""
    server = Server(engine, config or ServeConfig())
    config = server.config
    app = FastAPI(title="hfchat", description=__doc__.split("\n\n")[0])
    app.state.server = server
    if config.cors_allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_allow_origins, allow_methods=["*"],
                           allow_headers=["*"])

    def error_response(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(server.error_payload(request.url.path, error), status_code=error.status)

    # Malformed bodies are answered before any route runs (inside the API-key check below, so 401 comes first).
    app.add_middleware(BodyGuard, max_body_bytes=config.max_body_bytes,
                       error_payload=lambda path, status, message: server.error_payload(
                           path, ApiError(status, message, "body", "validation")))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError):
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(location) or "body"
        return error_response(request, ApiError(422, f"{param}: {first['msg']}", param))  # bodies are JSON here

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        return error_response(request, ApiError(error.status_code, str(error.detail), None, "http"))

    @app.middleware("http")
    async def _check_api_key(request: Request, call_next):
        open_route = request.method == "GET" and request.url.path in ("/", "/health")
        if config.api_key and not open_route and request.method != "OPTIONS":
            given = request.headers.get("authorization", "").encode("utf-8")
            if not secrets.compare_digest(given, f"Bearer {config.api_key}".encode("utf-8")):  # constant time
                return error_response(request, ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)",
                                                        "authorization", "authentication"))
        return await call_next(request)

    app.include_router(openai_router(server))
    app.include_router(tgi_router(server))

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(resources.files("hfchat.serving").joinpath("chat.html").read_text(encoding="utf-8"))

    return app
