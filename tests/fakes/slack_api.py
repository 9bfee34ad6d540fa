"""A fake Slack Web API on 127.0.0.1 for tests: a real aiohttp server the real slack-sdk client talks to.

Implements auth.test and chat.postMessage (form or JSON bodies, Bearer or ``token`` field), checks the token,
rejects blocks Slack would reject (more than 50, header over 150, section text over 3,000 characters), records
every call and every accepted message, and can be told to fail: N x 429 with an integer Retry-After, N x 5xx,
a held response (longer than the client's timeout), or a Slack error code for a channel. More methods can be
added with ``route``.

For slash commands it also serves users.info (users set with ``set_user``), response URLs
(``response_url(name)``; what arrives is in ``responses``, ``wait_for_responses`` waits for it) and Socket
Mode: apps.connections.open with an app-level token, and a WebSocket on which ``send_envelope`` pushes a
request and ``socket_acks`` records the client's acknowledgements.

    async with FakeSlackApi() as slack:
        platform = SlackPlatform(token=slack.token, api_base_url=slack.base_url)
        slack.fail_with_rate_limit(times=1)
        ...
        assert slack.messages[0].channel == "C0123456789"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self

from aiohttp import WSMsgType, web

DEFAULT_TOKEN: Final = "xoxb-fake-diplowatch-token"
DEFAULT_APP_TOKEN: Final = "xapp-fake-diplowatch-app-token"
BOT_USER_ID: Final = "U0FAKEBOT"
TEAM_ID: Final = "T0FAKETEAM"
BLOCK_LIMIT: Final = 50
HEADER_LIMIT: Final = 150
SECTION_TEXT_LIMIT: Final = 3000
CONTEXT_ELEMENT_LIMIT: Final = 10
TOTAL_TEXT_LIMIT: Final = 12_000

FaultKind = Literal["rate_limit", "server_error", "timeout", "slack_error"]
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackCall:
    """One Web API call as the fake received it (before any injected fault)."""

    method: str
    params: JsonObject
    token: str | None
    content_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedMessage:
    """A message chat.postMessage accepted."""

    channel: str
    ts: str
    text: str
    blocks: tuple[JsonObject, ...]
    params: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackReply:
    """What a method handler answers: a JSON body, an HTTP status and extra headers."""

    body: JsonObject
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


MethodHandler = Callable[[SlackCall], Awaitable[SlackReply]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsePost:
    """A message posted to one of the fake's response URLs (``name`` is the URL's last part)."""

    name: str
    body: JsonObject

    @property
    def ephemeral(self) -> bool:
        """True unless the message was posted ``in_channel``."""
        return self.body.get("response_type") != "in_channel"

    @property
    def texts(self) -> list[str]:
        """Every text of every block (headers, sections, contexts, buttons), in order."""
        texts: list[str] = []
        for block in self.body.get("blocks") or []:
            texts.append(_text_of(block.get("text")))
            for element in block.get("elements") or []:
                texts.append(_text_of(element) or _text_of(element.get("text")))
        return [t for t in texts if t]

    def buttons(self) -> list[tuple[str, str]]:
        """``(action_id, value)`` of every button, in order."""
        return [
            (str(element["action_id"]), str(element.get("value", "")))
            for block in self.body.get("blocks") or []
            if block.get("type") == "actions"
            for element in block.get("elements") or []
        ]


@dataclass(slots=True, kw_only=True)
class _Fault:
    kind: FaultKind
    method: str | None
    channel: str | None
    remaining: int | None  # None: every matching call, forever
    skip: int
    retry_after_s: int = 0
    status: int = 500
    error: str = ""
    hold_s: float = 0.0

    def matches(self, call: SlackCall) -> bool:
        if self.method is not None and call.method != self.method:
            return False
        return self.channel is None or call.params.get("channel") == self.channel


def _ok(**fields: Any) -> SlackReply:
    return SlackReply(body={"ok": True, **fields})


def _error(error: str, *, status: int = 200, **fields: Any) -> SlackReply:
    return SlackReply(body={"ok": False, "error": error, **fields}, status=status)


def _text_of(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def block_problem(blocks: Iterable[Any]) -> str | None:
    """Why Slack would refuse these blocks (``invalid_blocks`` / ``msg_blocks_too_long``), or None."""
    listed = list(blocks)
    if len(listed) > BLOCK_LIMIT:
        return "invalid_blocks"
    total = 0
    for block in listed:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return "invalid_blocks"
        text = _text_of(block.get("text"))
        total += len(text)
        if block["type"] == "header" and (not text or len(text) > HEADER_LIMIT):
            return "invalid_blocks"
        if block["type"] == "section" and len(text) > SECTION_TEXT_LIMIT:
            return "invalid_blocks"
        if block["type"] == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= CONTEXT_ELEMENT_LIMIT:
                return "invalid_blocks"
            total += sum(len(_text_of(element)) for element in elements)
    return "msg_blocks_too_long" if total > TOTAL_TEXT_LIMIT else None


class FakeSlackApi:
    """A fake Slack Web API server (async context manager) on a random port of 127.0.0.1."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        app_tokens: Iterable[str] = (DEFAULT_APP_TOKEN,),
        host: str = "127.0.0.1",
    ) -> None:
        self._tokens = frozenset(tokens)
        self._app_tokens = frozenset(app_tokens)
        self._host = host
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._faults: list[_Fault] = []
        self._release = asyncio.Event()
        self._handlers: dict[str, MethodHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "users.info": self._users_info,
        }
        self._users: dict[str, JsonObject] = {}
        self._arrived = asyncio.Condition()
        self._sockets: set[web.WebSocketResponse] = set()
        self._envelope_ids = itertools.count(1)
        self.calls: list[SlackCall] = []
        self.messages: list[PostedMessage] = []
        self.responses: list[ResponsePost] = []
        self.socket_acks: list[JsonObject] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on a random port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self._socket)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Release held responses, close Socket Mode connections and stop listening."""
        self._release.set()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return next(iter(sorted(self._tokens)))

    @property
    def base_url(self) -> str:
        """The Web API base URL, ending with a slash (``…/api/``)."""
        if self._port is None:
            raise RuntimeError("FakeSlackApi is not started")
        return f"http://{self._host}:{self._port}/api/"

    def route(self, method: str, handler: MethodHandler) -> None:
        """Answer ``method`` (e.g. ``views.open``) with ``handler``; replaces any earlier handler."""
        self._handlers[method] = handler

    def calls_to(self, method: str) -> list[SlackCall]:
        """The calls received for one method, in order."""
        return [call for call in self.calls if call.method == method]

    # -- slash commands: users, response URLs, Socket Mode -------------------------------------------------

    def set_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        """A workspace member users.info describes (others are ``user_not_found``)."""
        self._users[user_id] = {
            "id": user_id, "team_id": TEAM_ID, "name": user_id.lower(), "deleted": False,
            "is_admin": is_admin, "is_owner": is_owner, "is_primary_owner": False, "is_bot": False,
        }

    def response_url(self, name: str) -> str:
        """A response URL whose posts are recorded under ``name``."""
        if self._port is None:
            raise RuntimeError("FakeSlackApi is not started")
        return f"http://{self._host}:{self._port}/response/{name}"

    async def wait_for_responses(self, count: int, *, timeout_s: float = 5.0) -> list[ResponsePost]:
        """Wait until ``count`` response URL posts arrived (TimeoutError otherwise); all of them."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.responses) >= count)
        return list(self.responses)

    async def send_envelope(self, kind: str, payload: Mapping[str, Any]) -> str:
        """Push a Socket Mode request (``slash_commands``, ``interactive``) to every connection; its id."""
        if not self._sockets:
            raise RuntimeError("no Socket Mode connection is open")
        envelope_id = f"envelope-{next(self._envelope_ids)}"
        envelope = {
            "envelope_id": envelope_id, "type": kind, "payload": dict(payload),
            "accepts_response_payload": kind == "slash_commands", "retry_attempt": 0, "retry_reason": "",
        }
        for ws in list(self._sockets):
            await ws.send_str(json.dumps(envelope))
        return envelope_id

    async def wait_for_socket_acks(self, count: int, *, timeout_s: float = 5.0) -> list[JsonObject]:
        """Wait until ``count`` envelopes were acknowledged (TimeoutError otherwise); the acknowledgements."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.socket_acks) >= count)
        return list(self.socket_acks)

    async def _response(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        problem = block_problem(body.get("blocks") or [])
        if problem is not None:
            return web.Response(status=400, text=problem)
        async with self._arrived:
            self.responses.append(ResponsePost(name=request.match_info["name"], body=body))
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                          "connection_info": {"app_id": "A0FAKEAPP"}}))
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                with contextlib.suppress(json.JSONDecodeError):
                    ack = json.loads(frame.data)
                    if isinstance(ack, dict) and "envelope_id" in ack:
                        async with self._arrived:
                            self.socket_acks.append(ack)
                            self._arrived.notify_all()
        finally:
            self._sockets.discard(ws)
        return ws

    # -- fault injection: faults apply in the order they were added, each to the calls it matches ----------

    def fail_with_rate_limit(
        self, *, times: int = 1, retry_after_s: int = 0, method: str | None = "chat.postMessage"
    ) -> None:
        """Answer the next ``times`` matching calls with 429 ``ratelimited`` and ``Retry-After``."""
        self._faults.append(
            _Fault(
                kind="rate_limit",
                method=method,
                channel=None,
                remaining=times,
                skip=0,
                retry_after_s=retry_after_s,
            )
        )

    def fail_with_server_error(
        self, *, times: int = 1, status: int = 500, after: int = 0, method: str | None = "chat.postMessage"
    ) -> None:
        """Answer ``times`` matching calls, after letting ``after`` of them through, with HTTP ``status``."""
        self._faults.append(
            _Fault(
                kind="server_error", method=method, channel=None, remaining=times, skip=after, status=status
            )
        )

    def fail_with_timeout(
        self, *, times: int = 1, hold_s: float = 5.0, method: str | None = "chat.postMessage"
    ) -> None:
        """Hold the next ``times`` matching calls for ``hold_s`` s (or until the fake stops), then answer."""
        self._faults.append(
            _Fault(kind="timeout", method=method, channel=None, remaining=times, skip=0, hold_s=hold_s)
        )

    def fail_with_slack_error(
        self,
        error: str,
        *,
        channel: str | None = None,
        times: int | None = None,
        method: str | None = "chat.postMessage",
        status: int = 200,
    ) -> None:
        """Answer matching calls (to ``channel``, if given) with ``{"ok": false, "error": error}``."""
        self._faults.append(
            _Fault(
                kind="slack_error",
                method=method,
                channel=channel,
                remaining=times,
                skip=0,
                error=error,
                status=status,
            )
        )

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    # -- request handling ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = await _params(request)
        call = SlackCall(
            method=request.match_info["method"],
            params=params,
            token=_token(request, params),
            content_type=request.content_type,
        )
        self.calls.append(call)
        reply = await self._apply_fault(call)
        if reply is None:
            reply = await self._answer(call)
        return web.json_response(reply.body, status=reply.status, headers=dict(reply.headers))

    async def _apply_fault(self, call: SlackCall) -> SlackReply | None:
        for fault in self._faults:
            if fault.remaining == 0 or not fault.matches(call):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            if fault.kind == "rate_limit":
                return SlackReply(
                    body={"ok": False, "error": "ratelimited"},
                    status=429,
                    headers=(("Retry-After", str(fault.retry_after_s)),),
                )
            if fault.kind == "server_error":
                return _error("internal_error", status=fault.status)
            if fault.kind == "slack_error":
                return _error(fault.error, status=fault.status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=fault.hold_s)
            return None
        return None

    async def _answer(self, call: SlackCall) -> SlackReply:
        if call.token is None:
            return _error("not_authed")
        if call.method == "apps.connections.open":
            if call.token not in self._app_tokens:
                return _error("invalid_auth")
            return _ok(url=f"ws://{self._host}:{self._port}/socket")
        if call.token not in self._tokens:
            return _error("invalid_auth")
        handler = self._handlers.get(call.method)
        if handler is None:
            return _error("unknown_method")
        return await handler(call)

    async def _auth_test(self, call: SlackCall) -> SlackReply:
        return _ok(
            url="https://fake-diplowatch.slack.test/",
            team="Fake Team",
            user="diplowatch",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id="B0FAKEBOT",
        )

    async def _users_info(self, call: SlackCall) -> SlackReply:
        user = self._users.get(str(call.params.get("user") or ""))
        return _error("user_not_found") if user is None else _ok(user=user)

    async def _post_message(self, call: SlackCall) -> SlackReply:
        channel = call.params.get("channel")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        text = call.params.get("text")
        blocks = call.params.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks_format")
        blocks = blocks or []
        if not text and not blocks:
            return _error("no_text")
        problem = block_problem(blocks)
        if problem is not None:
            return _error(problem)
        ts = f"{1_700_000_000 + len(self.messages)}.{len(self.messages) + 1:06d}"
        self.messages.append(
            PostedMessage(
                channel=channel,
                ts=ts,
                text=str(text or ""),
                blocks=tuple(blocks),
                params=call.params,
            )
        )
        return _ok(channel=channel, ts=ts, message={"type": "message", "text": text or "", "ts": ts})


def _token(request: web.Request, params: JsonObject) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        return authorization.removeprefix("Bearer ").strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


async def _params(request: web.Request) -> JsonObject:
    params: JsonObject = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    # Form bodies carry structured fields as JSON strings.
    for key in ("blocks", "attachments", "metadata"):
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    return params
