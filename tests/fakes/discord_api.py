"""A fake Discord API (REST v10 and gateway) on 127.0.0.1 that the real discord.py client can log in to.

It records what it receives, enforces Discord's message limits and nonce rules, and can be told to fail:
rate limits (429 with the headers discord.py needs to retry), server errors, dropped connections and
per-channel errors (Unknown Channel, Missing Access). Point discord.py at it with ``api_base`` and
``gateway_url`` (see the fixture in tests/bot/platforms/test_discord.py).

Slash commands: ``send_interaction`` pushes an INTERACTION_CREATE (built with ``slash_command``,
``autocomplete`` or ``button_press``) down the gateway; the interaction callback
(``POST /interactions/{id}/{token}/callback``) and follow-up webhooks (``POST /webhooks/{app}/{token}``)
are recorded as ``InteractionAnswer``s, and ``wait_for_answers`` waits for them. ``add_attachment`` serves a
file an interaction can carry.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import WSMsgType, web

TEST_GUILD_ID = 100000000000000001
TEST_CHANNEL_ID = 200000000000000001
BOT_USER_ID = 300000000000000001
OWNER_USER_ID = 300000000000000002
FIRST_MESSAGE_ID = 400000000000000001
MEMBER_USER_ID = 300000000000000003
ADMIN_ROLE_ID = 700000000000000001
FIRST_INTERACTION_ID = 600000000000000001
# Permission bits as Discord sends them.
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
EPHEMERAL_FLAG = 1 << 6
# Interaction types and callback types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
HEARTBEAT_INTERVAL_MS = 41250
GATEWAY_AUTH_FAILED = 4004

# Discord's limits, counted in characters as the API does.
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL_LIMIT = 6000
NONCE_LIMIT = 25
EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
FIELDS_PER_EMBED = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_NAME_LIMIT = 256

FailureKind = Literal["status", "drop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    """A message the fake accepted, as its JSON body arrived."""

    message_id: str
    channel_id: str
    content: str | None
    embeds: tuple[dict[str, Any], ...]
    nonce: str | None
    enforce_nonce: bool
    allowed_mentions: dict[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionAnswer:
    """An answer to an interaction: its callback (``kind`` "callback", with Discord's callback ``type``) or a
    follow-up message (``kind`` "followup"); ``data`` is the JSON body (the callback's ``data``)."""

    interaction_id: str
    kind: Literal["callback", "followup"]
    type: int
    data: dict[str, Any]
    files: tuple[tuple[str, bytes], ...] = ()

    @property
    def ephemeral(self) -> bool:
        """True when the message is shown only to the user who ran the command (flag 64)."""
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL_FLAG)

    @property
    def custom_ids(self) -> list[str]:
        """The custom_ids of the buttons under the message, in order."""
        rows: list[dict[str, Any]] = self.data.get("components") or []
        return [c["custom_id"] for row in rows for c in row.get("components", []) if "custom_id" in c]


@dataclass(frozen=True, slots=True, kw_only=True)
class InjectedFailure:
    """How the next message POST fails: an HTTP status, or a connection dropped without an answer."""

    kind: FailureKind = "status"
    status: int = 500
    retry_after: float = 0.01
    via: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelError:
    """A persistent error for one channel (Discord's JSON error code and message)."""

    status: int
    code: int
    message: str


UNKNOWN_CHANNEL = ChannelError(status=404, code=10003, message="Unknown Channel")
MISSING_ACCESS = ChannelError(status=403, code=50001, message="Missing Access")
MISSING_PERMISSIONS = ChannelError(status=403, code=50013, message="Missing Permissions")


def _json(body: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly "application/json" (no charset).
    return web.Response(
        status=status,
        body=json.dumps(body).encode("utf-8"),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _json(body, status=status)


def limit_violations(payload: dict[str, Any]) -> list[str]:
    """What in a create-message body breaks Discord's limits (empty when it would be accepted)."""
    problems: list[str] = []
    content = payload.get("content")
    embeds: list[dict[str, Any]] = payload.get("embeds") or []
    if not content and not embeds:
        problems.append("empty message")
    if content and len(content) > CONTENT_LIMIT:
        problems.append(f"content is {len(content)} > {CONTENT_LIMIT} characters")
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(embeds)} > {EMBEDS_PER_MESSAGE} embeds")
    nonce = payload.get("nonce")
    if nonce is not None and len(str(nonce)) > NONCE_LIMIT:
        problems.append(f"nonce is longer than {NONCE_LIMIT} characters")
    total = 0
    for index, embed in enumerate(embeds):
        texts: list[tuple[str, str, int]] = [
            (name, embed.get(name) or "", limit) for name, limit in EMBED_TEXT_LIMITS.items()
        ]
        texts.append(("footer.text", (embed.get("footer") or {}).get("text") or "", FOOTER_LIMIT))
        texts.append(("author.name", (embed.get("author") or {}).get("name") or "", AUTHOR_NAME_LIMIT))
        fields: list[dict[str, Any]] = embed.get("fields") or []
        if len(fields) > FIELDS_PER_EMBED:
            problems.append(f"embed {index} has {len(fields)} > {FIELDS_PER_EMBED} fields")
        for number, embed_field in enumerate(fields):
            name, value = embed_field.get("name") or "", embed_field.get("value") or ""
            if not name or not value:
                problems.append(f"embed {index} field {number} has an empty name or value")
            texts.append((f"fields.{number}.name", name, FIELD_NAME_LIMIT))
            texts.append((f"fields.{number}.value", value, FIELD_VALUE_LIMIT))
        for name, text, limit in texts:
            if len(text) > limit:
                problems.append(f"embed {index} {name} is {len(text)} > {limit} characters")
            total += len(text)
        url = embed.get("url")
        if url is not None and not str(url).startswith(("http://", "https://")):
            problems.append(f"embed {index} url is not http(s)")
    if total > EMBED_TOTAL_LIMIT:
        problems.append(f"embeds total {total} > {EMBED_TOTAL_LIMIT} characters")
    return problems


@dataclass(slots=True)
class _Recorder:
    received: list[ReceivedMessage] = field(default_factory=list)
    by_nonce: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    identify_payloads: list[dict[str, Any]] = field(default_factory=list)
    synced_commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answers: list[InteractionAnswer] = field(default_factory=list)
    message_posts: int = 0
    heartbeats: int = 0


class FakeDiscordAPI:
    """An aiohttp app on a random 127.0.0.1 port; ``async with FakeDiscordAPI(token=...) as fake``."""

    def __init__(
        self,
        *,
        token: str,
        guild_unavailable_in_ready: bool = True,
        send_ready: bool = True,
        gateway_rejects_token: bool = False,
        ready_delay_s: float = 0.0,
    ) -> None:
        self.token = token
        self.guild_unavailable_in_ready = guild_unavailable_in_ready
        self.send_ready = send_ready
        self.gateway_rejects_token = gateway_rejects_token
        self.ready_delay_s = ready_delay_s
        self._login_failures: deque[int] = deque()
        self._record = _Recorder()
        self._failures: deque[InjectedFailure] = deque()
        self._channel_errors: dict[str, ChannelError] = {}
        self._next_message_id = FIRST_MESSAGE_ID
        self._sockets: set[web.WebSocketResponse] = set()
        self._sequences: dict[web.WebSocketResponse, int] = {}
        self._ready_sockets: set[web.WebSocketResponse] = set()
        self._interaction_ids = itertools.count(FIRST_INTERACTION_ID)
        self._interactions: dict[str, dict[str, Any]] = {}
        self._acknowledged: set[str] = set()
        self._answered = asyncio.Condition()
        self._attachments: dict[str, bytes] = {}
        self.sync_failure: ChannelError | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # --- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscordAPI:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{api}/gateway", self._gateway_url)
        app.router.add_get(f"{api}/gateway/bot", self._gateway_bot)
        app.router.add_get(f"{api}/channels/{{channel_id}}", self._channel)
        app.router.add_post(f"{api}/channels/{{channel_id}}/messages", self._create_message)
        app.router.add_get(f"{api}/applications/{{app_id}}/commands", self._list_commands)
        app.router.add_put(f"{api}/applications/{{app_id}}/commands", self._sync_commands)
        app.router.add_get(f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._list_commands)
        app.router.add_put(f"{api}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._sync_commands)
        app.router.add_post(f"{api}/interactions/{{interaction_id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app_id}}/{{token}}", self._followup)
        app.router.add_get("/attachments/{name}", self._attachment)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` should be."""
        return f"http://127.0.0.1:{self._port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` should be."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    # --- what was received -----------------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedMessage]:
        """Messages accepted, in order (a message repeated with an enforced nonce is not counted twice)."""
        return list(self._record.received)

    @property
    def message_posts(self) -> int:
        """Every POST to a channel's messages, failed or not."""
        return self._record.message_posts

    @property
    def requests(self) -> list[str]:
        """Every REST request as "METHOD /path"."""
        return list(self._record.requests)

    @property
    def identify_payloads(self) -> list[dict[str, Any]]:
        """The gateway IDENTIFY payloads (``d``), token included."""
        return list(self._record.identify_payloads)

    @property
    def heartbeats(self) -> int:
        """Gateway heartbeats (op 1) answered."""
        return self._record.heartbeats

    @property
    def synced_commands(self) -> list[dict[str, Any]]:
        """Global application commands from the last bulk overwrite (PUT)."""
        return list(self._record.synced_commands)

    def guild_commands(self, guild_id: int | str) -> list[dict[str, Any]]:
        """One guild's application commands from its last bulk overwrite (PUT)."""
        return list(self._record.guild_commands.get(str(guild_id), []))

    @property
    def answers(self) -> list[InteractionAnswer]:
        """Interaction callbacks and follow-ups, in the order they arrived."""
        return list(self._record.answers)

    async def wait_for_answers(self, count: int, *, timeout_s: float = 5.0) -> list[InteractionAnswer]:
        """Wait until ``count`` answers arrived (TimeoutError otherwise); all answers so far."""
        async with asyncio.timeout(timeout_s), self._answered:
            await self._answered.wait_for(lambda: len(self._record.answers) >= count)
        return self.answers

    # --- interactions ----------------------------------------------------------------------------------

    async def send_interaction(self, payload: Mapping[str, Any]) -> str:
        """Push an INTERACTION_CREATE to every identified gateway connection; the interaction's id.

        ``payload`` comes from ``slash_command``, ``autocomplete`` or ``button_press``; its id and token are
        filled in here.
        """
        interaction_id = str(next(self._interaction_ids))
        full = {**payload, "id": interaction_id, "token": f"token-{interaction_id}"}
        self._interactions[interaction_id] = full
        if not self._ready_sockets:
            raise RuntimeError("no gateway connection has identified yet")
        for ws in list(self._ready_sockets):
            await self._dispatch(ws, "INTERACTION_CREATE", full)
        return interaction_id

    def add_attachment(self, name: str, content: bytes) -> str:
        """Serve ``content`` as an attachment; its URL (for ``slash_command(attachments=…)``)."""
        self._attachments[name] = content
        return f"http://127.0.0.1:{self._port}/attachments/{name}"

    # --- failure injection -----------------------------------------------------------------------------

    def fail_next_posts(self, times: int, failure: InjectedFailure) -> None:
        """Make the next ``times`` message POSTs (to any channel) fail as ``failure`` says."""
        self._failures.extend([failure] * times)

    def fail_next_logins(self, times: int, status: int) -> None:
        """Make the next ``times`` logins (GET /users/@me) fail with HTTP ``status``."""
        self._login_failures.extend([status] * times)

    def fail_channel(self, channel_id: int | str, error: ChannelError) -> None:
        """Make every request for one channel fail with ``error`` (e.g. ``UNKNOWN_CHANNEL``)."""
        self._channel_errors[str(channel_id)] = error

    # --- payloads --------------------------------------------------------------------------------------

    @staticmethod
    def _user(user_id: int, name: str, *, bot: bool) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot,
            "flags": 0,
            "mfa_enabled": False,
            "verified": True,
        }

    def _bot_user(self) -> dict[str, Any]:
        return self._user(BOT_USER_ID, "diplowatch-test", bot=True)

    @staticmethod
    def _text_channel() -> dict[str, Any]:
        return {
            "id": str(TEST_CHANNEL_ID),
            "type": 0,
            "guild_id": str(TEST_GUILD_ID),
            "name": "diplomacy-alerts",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }

    def _guild(self) -> dict[str, Any]:
        return {
            "id": str(TEST_GUILD_ID),
            "name": "Test server",
            "unavailable": False,
            "owner_id": str(OWNER_USER_ID),
            "member_count": 2,
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "features": [],
            "roles": [
                _role(TEST_GUILD_ID, "@everyone", position=0),
                _role(ADMIN_ROLE_ID, "news-admins", position=1),
            ],
            "channels": [self._text_channel()],
            "threads": [],
            "members": [],
            "voice_states": [],
            "presences": [],
            "emojis": [],
            "stickers": [],
        }

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _log(self, request: web.Request) -> None:
        self._record.requests.append(f"{request.method} {request.path}")

    # --- REST ------------------------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        self._log(request)
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        if self._login_failures:
            status = self._login_failures.popleft()
            return _error(status, 0, f"{status}: injected failure")
        return _json(self._bot_user())

    async def _application(self, request: web.Request) -> web.Response:
        self._log(request)
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        return _json(
            {
                "id": str(BOT_USER_ID),
                "name": "diplowatch-test",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self._user(OWNER_USER_ID, "owner", bot=False),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def _gateway_url(self, request: web.Request) -> web.Response:
        self._log(request)
        return _json({"url": self.gateway_url})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        self._log(request)
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _channel(self, request: web.Request) -> web.Response:
        self._log(request)
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        channel_id = request.match_info["channel_id"]
        error = self._channel_errors.get(channel_id)
        if error is not None:
            return _error(error.status, error.code, error.message)
        if channel_id != str(TEST_CHANNEL_ID):
            return _error(UNKNOWN_CHANNEL.status, UNKNOWN_CHANNEL.code, UNKNOWN_CHANNEL.message)
        return _json(self._text_channel())

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        self._log(request)
        self._record.message_posts += 1
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        if self._failures:
            failure = self._failures.popleft()
            if failure.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            return self._failure_response(failure)
        channel_id = request.match_info["channel_id"]
        error = self._channel_errors.get(channel_id)
        if error is not None:
            return _error(error.status, error.code, error.message)
        payload: dict[str, Any] = await request.json()
        problems = limit_violations(payload)
        if problems:
            return _error(400, 50035, "Invalid Form Body", {"payload": {"_errors": _form_errors(problems)}})
        nonce = payload.get("nonce")
        enforce_nonce = bool(payload.get("enforce_nonce"))
        if nonce is not None and enforce_nonce:
            earlier = self._record.by_nonce.get((channel_id, str(nonce)))
            if earlier is not None:
                return _json(earlier)
        message_id = str(self._next_message_id)
        self._next_message_id += 1
        answer = {
            "id": message_id,
            "channel_id": channel_id,
            "author": self._bot_user(),
            "content": payload.get("content") or "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": payload.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "nonce": nonce,
        }
        if nonce is not None:
            self._record.by_nonce[(channel_id, str(nonce))] = answer
        self._record.received.append(
            ReceivedMessage(
                message_id=message_id,
                channel_id=channel_id,
                content=payload.get("content"),
                embeds=tuple(payload.get("embeds") or ()),
                nonce=None if nonce is None else str(nonce),
                enforce_nonce=enforce_nonce,
                allowed_mentions=payload.get("allowed_mentions"),
            )
        )
        return _json(answer)

    @staticmethod
    def _failure_response(failure: InjectedFailure) -> web.Response:
        if failure.status != 429:
            return _error(failure.status, 0, f"{failure.status}: injected failure")
        headers = {
            "Retry-After": f"{failure.retry_after:g}",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{failure.retry_after:g}",
            "X-RateLimit-Bucket": "fake-messages-bucket",
            "X-RateLimit-Scope": "user",
        }
        if failure.via:
            # discord.py treats a 429 without Via as a Cloudflare ban and does not retry it.
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": failure.retry_after, "global": False}
        return _json(body, status=429, headers=headers)

    async def _list_commands(self, request: web.Request) -> web.Response:
        self._log(request)
        return _json(self._record.synced_commands)

    async def _sync_commands(self, request: web.Request) -> web.Response:
        self._log(request)
        if not self._authorised(request):
            return _error(401, 0, "401: Unauthorized")
        if self.sync_failure is not None:
            failure = self.sync_failure
            return _error(failure.status, failure.code, failure.message)
        commands: list[dict[str, Any]] = await request.json()
        stored = [
            {
                "type": 1,
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **command,
                "id": str(500000000000000001 + index),
                "application_id": str(BOT_USER_ID),
                "version": "1",
            }
            for index, command in enumerate(commands)
        ]
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            self._record.synced_commands = stored
        else:
            self._record.guild_commands[guild_id] = stored
        return _json(stored)

    async def _callback(self, request: web.Request) -> web.Response:
        self._log(request)
        interaction_id = request.match_info["interaction_id"]
        interaction = self._interactions.get(interaction_id)
        if interaction is None or request.match_info["token"] != interaction["token"]:
            return _error(404, 10062, "Unknown interaction")
        if interaction_id in self._acknowledged:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body, files = await _message_body(request)
        callback_type = int(body.get("type", 0))
        data: dict[str, Any] = body.get("data") or {}
        problems = limit_violations(data) if callback_type == CHANNEL_MESSAGE else []
        if problems:
            return _error(400, 50035, "Invalid Form Body", {"data": {"_errors": _form_errors(problems)}})
        self._acknowledged.add(interaction_id)
        await self._record_answer(
            InteractionAnswer(interaction_id=interaction_id, kind="callback", type=callback_type, data=data,
                              files=files)
        )
        if callback_type == AUTOCOMPLETE_RESULT:
            return web.Response(status=204)
        message = self._message_payload(interaction, data, loading=callback_type == DEFERRED_CHANNEL_MESSAGE)
        answer = {
            "interaction": {
                "id": interaction_id,
                "type": interaction["type"],
                "response_message_id": message["id"],
                "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL_FLAG),
            },
            "resource": {"type": callback_type, "message": message},
        }
        return _json(answer)

    async def _followup(self, request: web.Request) -> web.Response:
        self._log(request)
        token = request.match_info["token"]
        interaction = next((i for i in self._interactions.values() if i["token"] == token), None)
        if interaction is None or interaction["id"] not in self._acknowledged:
            return _error(404, 10015, "Unknown Webhook")
        body, files = await _message_body(request)
        problems = limit_violations(body)
        if problems:
            return _error(400, 50035, "Invalid Form Body", {"payload": {"_errors": _form_errors(problems)}})
        await self._record_answer(
            InteractionAnswer(
                interaction_id=interaction["id"], kind="followup", type=0, data=body, files=files
            )
        )
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(self._message_payload(interaction, body, loading=False))
        return web.Response(status=204)

    async def _attachment(self, request: web.Request) -> web.Response:
        content = self._attachments.get(request.match_info["name"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _record_answer(self, answer: InteractionAnswer) -> None:
        async with self._answered:
            self._record.answers.append(answer)
            self._answered.notify_all()

    def _message_payload(
        self, interaction: Mapping[str, Any], data: Mapping[str, Any], *, loading: bool
    ) -> dict[str, Any]:
        message_id = str(self._next_message_id)
        self._next_message_id += 1
        return {
            "id": message_id,
            "channel_id": str(interaction.get("channel_id") or TEST_CHANNEL_ID),
            "author": self._bot_user(),
            "content": data.get("content") or "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": data.get("embeds") or [],
            "components": data.get("components") or [],
            "pinned": False,
            "type": 20,
            "flags": int(data.get("flags") or 0) | (128 if loading else 0),
            "application_id": str(BOT_USER_ID),
            "webhook_id": str(BOT_USER_ID),
        }

    # --- gateway ---------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        self._sequences[ws] = 0
        try:
            await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                packet: dict[str, Any] = json.loads(frame.data)
                op = packet.get("op")
                if op == 1:
                    self._record.heartbeats += 1
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    identify: dict[str, Any] = packet["d"]
                    self._record.identify_payloads.append(identify)
                    if identify.get("token") != self.token or self.gateway_rejects_token:
                        await ws.close(code=GATEWAY_AUTH_FAILED, message=b"Authentication failed.")
                        break
                    if self.send_ready:
                        # A slow gateway; the ready timeout of the client under test is what is exercised.
                        await asyncio.sleep(self.ready_delay_s)
                        for event, data in self._ready_events():
                            await self._dispatch(ws, event, data)
                        self._ready_sockets.add(ws)
                elif op == 6:
                    # Resuming is not supported: tell the client to identify afresh.
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
        finally:
            self._sockets.discard(ws)
            self._ready_sockets.discard(ws)
            self._sequences.pop(ws, None)
        return ws

    async def _dispatch(self, ws: web.WebSocketResponse, event: str, data: Mapping[str, Any]) -> None:
        self._sequences[ws] = self._sequences.get(ws, 0) + 1
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self._sequences[ws], "d": data}))

    def _ready_events(self) -> list[tuple[str, dict[str, Any]]]:
        guild = self._guild()
        unavailable = [{"id": guild["id"], "unavailable": True}]
        ready = {
            "v": 10,
            "user": self._bot_user(),
            "guilds": unavailable if self.guild_unavailable_in_ready else [guild],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(BOT_USER_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        events: list[tuple[str, dict[str, Any]]] = [("READY", ready)]
        if self.guild_unavailable_in_ready:
            events.append(("GUILD_CREATE", guild))
        return events


def _form_errors(problems: list[str]) -> list[dict[str, str]]:
    return [{"code": "BASE_TYPE_BAD_LENGTH", "message": problem} for problem in problems]


def _role(role_id: int, name: str, *, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": "0",
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


async def _message_body(request: web.Request) -> tuple[dict[str, Any], tuple[tuple[str, bytes], ...]]:
    """A JSON body, or a multipart one (``payload_json`` plus ``files[n]``) with its files."""
    if request.content_type != "multipart/form-data":
        body: dict[str, Any] = await request.json()
        return body, ()
    form = await request.post()
    payload = form.get("payload_json")
    body = json.loads(payload) if isinstance(payload, str) else {}
    files: list[tuple[str, bytes]] = []
    for name, value in form.items():
        if name.startswith("files[") and isinstance(value, web.FileField):
            files.append((value.filename, value.file.read()))
    return body, tuple(files)


def _member(user_id: int, *, permissions: int, roles: Sequence[int]) -> dict[str, Any]:
    return {
        "user": {
            "id": str(user_id),
            "username": f"user{user_id % 1000}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        },
        "roles": [str(role) for role in roles],
        "permissions": str(permissions),
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "nick": None,
        "avatar": None,
        "pending": False,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def _interaction(
    interaction_type: int,
    data: dict[str, Any],
    *,
    user_id: int,
    permissions: int,
    roles: Sequence[int],
    in_guild: bool,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "application_id": str(BOT_USER_ID),
        "type": interaction_type,
        "data": data,
        "version": 1,
        "locale": "en-US",
        "app_permissions": str(SEND_MESSAGES),
        "entitlements": [],
        "authorizing_integration_owners": {},
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if in_guild:
        channel = FakeDiscordAPI._text_channel()
        return {
            **base,
            "guild_id": str(TEST_GUILD_ID),
            "guild_locale": "en-US",
            "channel_id": str(TEST_CHANNEL_ID),
            "channel": channel,
            "member": _member(user_id, permissions=permissions, roles=roles),
            "context": 0,
        }
    dm = {"id": "800000000000000001", "type": 1, "recipients": []}
    user = _member(user_id, permissions=0, roles=())["user"]
    return {**base, "channel_id": dm["id"], "channel": dm, "user": user, "context": 1}


_OPTION_TYPES: dict[type, int] = {str: 3, int: 4, bool: 5, float: 10}


def _options(values: Mapping[str, str | int | float | bool], focused: str | None) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = []
    for name, value in values.items():
        option: dict[str, Any] = {"name": name, "type": _OPTION_TYPES[type(value)], "value": value}
        if name == focused:
            option["focused"] = True
        options.append(option)
    return options


def _command_data(
    path: Sequence[str], values: Mapping[str, str | int | float | bool], focused: str | None = None,
    attachments: Mapping[str, tuple[str, str, int]] | None = None,
) -> dict[str, Any]:
    """``data`` of a /diplowatch interaction: the root command, its subcommand (group) and options."""
    options = _options(values, focused)
    resolved: dict[str, Any] = {}
    for name, (attachment_id, url, size) in (attachments or {}).items():
        options.append({"name": name, "type": 11, "value": attachment_id})
        resolved.setdefault("attachments", {})[attachment_id] = {
            "id": attachment_id, "filename": f"{name}.toml", "size": size, "url": url, "proxy_url": url,
            "content_type": "text/plain",
        }
    nested: list[dict[str, Any]] = [{"type": 1, "name": path[-1], "options": options}]
    if len(path) == 3:
        nested = [{"type": 2, "name": path[1], "options": nested}]
    data: dict[str, Any] = {"id": "500000000000000001", "name": path[0], "type": 1, "options": nested}
    if resolved:
        data["resolved"] = resolved
    return data


def slash_command(
    *path: str,
    options: Mapping[str, str | int | float | bool] | None = None,
    attachments: Mapping[str, tuple[str, str, int]] | None = None,
    user_id: int = MEMBER_USER_ID,
    permissions: int = SEND_MESSAGES,
    roles: Sequence[int] = (),
    in_guild: bool = True,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction for ``/path… options`` (e.g. ``"diplowatch", "search"``).

    ``attachments`` maps an option name to (attachment id, url, size), see ``FakeDiscordAPI.add_attachment``.
    """
    data = _command_data(path, options or {}, attachments=attachments)
    return _interaction(APPLICATION_COMMAND, data, user_id=user_id, permissions=permissions, roles=roles,
                        in_guild=in_guild)


def autocomplete(
    *path: str,
    options: Mapping[str, str | int | float | bool],
    focused: str,
    user_id: int = MEMBER_USER_ID,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE interaction, the user typing into option ``focused``."""
    data = _command_data(path, options, focused)
    return _interaction(AUTOCOMPLETE, data, user_id=user_id, permissions=SEND_MESSAGES, roles=(),
                        in_guild=True)


def button_press(
    custom_id: str,
    *,
    user_id: int = MEMBER_USER_ID,
    permissions: int = SEND_MESSAGES,
    roles: Sequence[int] = (),
    message_flags: int = EPHEMERAL_FLAG,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction: a button with ``custom_id`` pressed under a bot message."""
    button = {"type": 2, "style": 2, "label": "More", "custom_id": custom_id}
    payload = _interaction(MESSAGE_COMPONENT, {"custom_id": custom_id, "component_type": 2}, user_id=user_id,
                           permissions=permissions, roles=roles, in_guild=True)
    payload["message"] = {
        "id": "400000000000009999",
        "channel_id": str(TEST_CHANNEL_ID),
        "author": FakeDiscordAPI._user(BOT_USER_ID, "diplowatch-test", bot=True),
        "content": "",
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [{"type": 1, "components": [button]}],
        "pinned": False,
        "type": 20,
        "flags": message_flags,
    }
    return payload
