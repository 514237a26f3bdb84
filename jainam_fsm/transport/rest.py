"""XTS market-data REST client (aiohttp): login, logout, subscribe, unsubscribe, quotes; the
instrument master, index list, search and OHLC come from :mod:`.rest_data`.

Wire facts (``docs/xts-protocol.md`` §2, §3, §4):

* every answer is an envelope ``{"type": "success"|"error", "code", "description", "result"}``;
* login ``POST {prefix}/auth/login`` with JSON ``appKey``/``secretKey``/``source``; success code
  ``e-response-0010`` with ``result.token`` (an HS256 JWT) and ``result.userID``;
* requests carry ``Authorization: <token>`` -- the bare token, no ``Bearer``;
* HTTP 400 ``e-session-0007`` "Invalid Token" = token expired/replaced;
  HTTP 400 ``e-session-0002`` "Instrument Already Subscribed" = the instruments are subscribed.

Error mapping. Login: a 4xx error envelope -> :class:`CredentialsRejected`; 5xx, 408, 429,
network, timeout, or an answer that is not a well-formed envelope -> :class:`TransportFailure`.
Other calls: ``e-session-0007`` -> :class:`TokenRejected`; other 4xx error envelopes ->
:class:`SubscriptionRejected` (e.g. the subscription limit: retrying will not help); the rest as
for login -> :class:`TransportFailure`. A server that sends garbage gets a TransportFailure,
never a ``KeyError``.

No message, repr or log line carries the token, the secret key or the Authorization header;
requests are logged at DEBUG only (method, path, status, code).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from jainam_fsm.core.ports import FeedToken, Instrument, RequestOutcome
from jainam_fsm.errors import (
    CredentialsRejected,
    SubscriptionRejected,
    TokenRejected,
    TransportFailure,
)
from jainam_fsm.telemetry import scrub
from jainam_fsm.transport.causes import Diagnosis, http_status_cause
from jainam_fsm.transport.probe import diagnose, refine
from jainam_fsm.transport.rest_data import ReferenceDataCalls

__all__ = [
    "EndpointNotFound",
    "LoginResult",
    "SubscribeResult",
    "XtsRestClient",
    "jwt_claims",
    "jwt_expiry",
    "jwt_issued_at",
]

log = logging.getLogger("jainam_fsm.transport.rest")

CODE_LOGIN_OK = "e-response-0010"
CODE_INVALID_TOKEN = "e-session-0007"
CODE_ALREADY_SUBSCRIBED = "e-session-0002"
_TRANSIENT_4XX = frozenset({408, 425, 429})
_MAX_DESCRIPTION = 200


class EndpointNotFound(TransportFailure):
    """HTTP 404 without a JSON envelope: the server does not serve this API prefix (servers
    that only serve the binary API answer ``/apimarketdata`` with an nginx HTML 404)."""


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the feed token (its repr shows only a fingerprint) and app version."""

    token: FeedToken
    app_version: str | None


@dataclass(frozen=True)
class SubscribeResult:
    """One subscribe answer: DONE with snapshots, or ALREADY (no snapshots)."""

    outcome: RequestOutcome
    #: ``result.listQuotes``: JSON strings, one snapshot per instrument (empty for ALREADY).
    list_quotes: tuple[str, ...]
    #: ``result.Remaining_Subscription_Count`` when the server sent it.
    remaining: int | None


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, decoded WITHOUT verifying the signature (we only read timing
    claims to know when to refresh; the server is the judge of validity). ``None`` if garbled."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _numeric_claim(token: str, name: str) -> float | None:
    claims = jwt_claims(token)
    value = claims.get(name) if claims else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (unix seconds) of a JWT, unverified; ``None`` if absent or garbled."""
    return _numeric_claim(token, "exp")


def jwt_issued_at(token: str) -> float | None:
    """The ``iat`` claim (unix seconds) of a JWT, unverified; ``None`` if absent or garbled."""
    return _numeric_claim(token, "iat")


class _Answer:
    """A parsed HTTP answer: status plus the envelope (``None`` when the body is no envelope)."""

    def __init__(self, status: int, envelope: dict[str, Any] | None) -> None:
        self.status = status
        self.envelope = envelope

    @property
    def code(self) -> str | None:
        code = self.envelope.get("code") if self.envelope else None
        return code if isinstance(code, str) else None

    @property
    def ok(self) -> bool:
        return (
            200 <= self.status < 300
            and self.envelope is not None
            and self.envelope.get("type") == "success"
        )

    @property
    def result(self) -> dict[str, Any] | None:
        res = self.envelope.get("result") if self.envelope else None
        return res if isinstance(res, dict) else None

    def describe(self) -> str:
        desc = self.envelope.get("description") if self.envelope else None
        text = desc[:_MAX_DESCRIPTION] if isinstance(desc, str) else ""
        return f"HTTP {self.status} {self.code or '-'} {text!r}"


class XtsRestClient(ReferenceDataCalls):
    """Async client for the XTS market-data REST API. Use as ``async with`` or call :meth:`aclose`.

    ``base_url`` is the server root (``https://host:port``); ``prefix`` is the API path
    (``/apimarketdata``, or ``/apibinarymarketdata`` on servers that only expose that).
    ``session`` lets the caller share an :class:`aiohttp.ClientSession`; the client then never
    closes it. Otherwise one is created on first use (inside the running loop) and closed by
    :meth:`aclose`. Like any aiohttp session, a client belongs to one event loop.
    """

    def __init__(
        self,
        base_url: str,
        *,
        prefix: str = "/apimarketdata",
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        verify_tls: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify_tls = verify_tls
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.timeout = float(timeout)
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"XtsRestClient(base_url={self.base_url!r}, prefix={self.prefix!r})"

    async def __aenter__(self) -> XtsRestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise TransportFailure("the shared aiohttp session is closed")
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                # ssl=False disables certificate checks (test servers only).
                connector=aiohttp.TCPConnector(ssl=self.verify_tls),
            )
        return self._session

    # -- plumbing ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        secrets: Sequence[str] = (),
        absent: frozenset[int] = frozenset(),
    ) -> _Answer:
        url = f"{self.base_url}{self.prefix}{path}"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = token  # bare token: XTS rejects "Bearer <token>"
        hidden = [s for s in (*secrets, token) if s]
        try:
            async with self._http().request(
                method,
                url,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # `from None`: aiohttp exceptions may hold the request (and its headers). The
            # detail is built from structured fields only (transport/causes.py).
            found = await diagnose(exc, url, self.timeout)
            what = _redact(found.detail, hidden)
            raise TransportFailure(
                f"{method} {self.prefix}{path} failed: {what}", cause=found.cause
            ) from None
        envelope = _parse_envelope(raw)
        answer = _Answer(status, envelope)
        log.debug("%s %s%s -> %s %s", method, self.prefix, path, status, answer.code)
        if envelope is None:
            if status in absent:
                return answer  # the caller treats the route as not offered
            cause = http_status_cause(status, socket_path=False)
            if status == 400:  # nginx's answer to plain HTTP on a TLS port
                cause = (await refine(Diagnosis(cause, "", status), url, self.timeout)).cause
            if status == 404:
                raise EndpointNotFound(
                    f"{method} {self.prefix}{path}: HTTP 404 with no JSON envelope "
                    "(the server does not serve this API prefix)",
                    cause=cause,
                )
            raise TransportFailure(
                f"{method} {self.prefix}{path}: HTTP {status} with no JSON envelope", cause=cause
            )
        return answer

    def _fail(self, what: str, answer: _Answer, hidden: Sequence[str]) -> TransportFailure:
        return TransportFailure(_redact(f"{what}: {answer.describe()}", hidden))

    def _raise_for(self, what: str, answer: _Answer, token: FeedToken) -> None:
        """Map an unsuccessful answer of a token-authenticated call to an exception."""
        hidden = [token.value]
        if answer.code == CODE_INVALID_TOKEN:
            raise TokenRejected(_redact(f"{what}: {answer.describe()}", hidden))
        if 400 <= answer.status < 500 and answer.status not in _TRANSIENT_4XX:
            raise SubscriptionRejected(
                _redact(f"{what}: {answer.describe()}", hidden), code=answer.code
            )
        raise self._fail(what, answer, hidden)

    @staticmethod
    def _instruments(instruments: Sequence[Instrument]) -> list[dict[str, int]]:
        return [
            {"exchangeSegment": int(seg), "exchangeInstrumentID": int(iid)}
            for seg, iid in instruments
        ]

    # -- API --------------------------------------------------------------------------------

    async def login(self, app_key: str, secret_key: str, *, source: str = "WEBAPI") -> LoginResult:
        """Log in; raises CredentialsRejected (4xx error envelope) or TransportFailure."""
        hidden = [secret_key, app_key]
        answer = await self._request(
            "POST",
            "/auth/login",
            body={"appKey": app_key, "secretKey": secret_key, "source": source},
            secrets=hidden,
        )
        if not answer.ok:
            if (
                400 <= answer.status < 500
                and answer.status not in _TRANSIENT_4XX
                and answer.envelope is not None
                and answer.envelope.get("type") == "error"
            ):
                raise CredentialsRejected(_redact(f"login refused: {answer.describe()}", hidden))
            raise self._fail("login failed", answer, hidden)
        result = answer.result
        token = result.get("token") if result else None
        user_id = result.get("userID") if result else None
        if not isinstance(token, str) or not token or not isinstance(user_id, str):
            raise TransportFailure(
                f"login: HTTP {answer.status} {answer.code or '-'} without "
                "a string result.token and result.userID"
            )
        hidden.append(token)
        if answer.code != CODE_LOGIN_OK:
            log.debug("login succeeded with unexpected code %s", answer.code)
        app_version = result.get("appVersion") if result else None
        return LoginResult(
            token=FeedToken(value=token, user_id=user_id, expires_at=jwt_expiry(token)),
            app_version=app_version if isinstance(app_version, str) else None,
        )

    async def serves_prefix(self) -> bool:
        """Whether the server serves this API prefix at all, without logging in: an empty login
        request is answered with a JSON envelope (an error) where the API exists, and with an
        HTML 404 where it does not. Raises TransportFailure when neither can be told."""
        try:
            await self._request("POST", "/auth/login", body={})
        except EndpointNotFound:
            return False
        return True

    async def logout(self, token: FeedToken) -> None:
        """End the session. An already-invalid token counts as logged out."""
        answer = await self._request("DELETE", "/auth/logout", token=token.value)
        if answer.ok or answer.code == CODE_INVALID_TOKEN:
            return
        raise self._fail("logout failed", answer, [token.value])

    async def subscribe(
        self, token: FeedToken, code: int, instruments: Sequence[Instrument]
    ) -> SubscribeResult:
        """Subscribe ``instruments`` for message ``code`` (one request)."""
        answer = await self._request(
            "POST",
            "/instruments/subscription",
            token=token.value,
            body={"instruments": self._instruments(instruments), "xtsMessageCode": int(code)},
        )
        remaining = _int_or_none(answer.result, "Remaining_Subscription_Count")
        if answer.code == CODE_ALREADY_SUBSCRIBED:
            return SubscribeResult(RequestOutcome.ALREADY, (), remaining)
        if not answer.ok:
            self._raise_for("subscribe", answer, token)
        return SubscribeResult(RequestOutcome.DONE, _list_quotes(answer, "subscribe"), remaining)

    async def unsubscribe(
        self, token: FeedToken, code: int, instruments: Sequence[Instrument]
    ) -> RequestOutcome:
        """Unsubscribe ``instruments`` for message ``code`` (PUT on the subscription path)."""
        answer = await self._request(
            "PUT",
            "/instruments/subscription",
            token=token.value,
            body={"instruments": self._instruments(instruments), "xtsMessageCode": int(code)},
        )
        if not answer.ok:
            self._raise_for("unsubscribe", answer, token)
        return RequestOutcome.DONE

    async def subscription_list(self, token: FeedToken, code: int) -> tuple[Instrument, ...] | None:
        """The session's instruments for ``code`` (``GET /instruments/subscription``).

        ``None`` when the server does not offer the list (404/405), refuses it with a 4xx
        error envelope other than an invalid token (a server may answer "nothing found" that
        way), or answers in a shape we cannot read: the shape is undocumented, see
        docs/xts-protocol.md.
        """
        answer = await self._request(
            "GET",
            f"/instruments/subscription?xtsMessageCode={int(code)}",
            token=token.value,
            absent=frozenset({404, 405}),
        )
        if answer.envelope is None:
            return None
        if answer.code == CODE_INVALID_TOKEN:
            raise TokenRejected(_redact(f"subscription list: {answer.describe()}", [token.value]))
        if not answer.ok:
            if 400 <= answer.status < 500 and answer.status not in _TRANSIENT_4XX:
                log.debug("subscription list for %s not offered: %s", code, answer.describe())
                return None
            self._raise_for("subscription list", answer, token)
        return _listed_instruments(answer.envelope.get("result") if answer.envelope else None)

    async def quotes(
        self, token: FeedToken, code: int, instruments: Sequence[Instrument]
    ) -> tuple[str, ...]:
        """Snapshots (``result.listQuotes`` JSON strings) for already-known instruments."""
        answer = await self._request(
            "POST",
            "/instruments/quotes",
            token=token.value,
            body={
                "instruments": self._instruments(instruments),
                "xtsMessageCode": int(code),
                "publishFormat": "JSON",
            },
        )
        if not answer.ok:
            self._raise_for("quotes", answer, token)
        return _list_quotes(answer, "quotes")


def _parse_envelope(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeError):
        return None
    return data if isinstance(data, dict) else None


def _int_or_none(result: dict[str, Any] | None, key: str) -> int | None:
    value = result.get(key) if result else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list_quotes(answer: _Answer, what: str) -> tuple[str, ...]:
    result = answer.result
    if result is None:
        raise TransportFailure(
            f"{what}: HTTP {answer.status} {answer.code or '-'} without a result object"
        )
    quotes = result.get("listQuotes", [])
    if not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
        raise TransportFailure(f"{what}: result.listQuotes is not a list of JSON strings")
    return tuple(quotes)


#: Where a subscription list may hold its instruments (the answer's shape is undocumented).
_LIST_KEYS = ("quotesList", "instruments", "subscriptionList", "listQuotes")


def _listed_instruments(result: object) -> tuple[Instrument, ...] | None:
    """Instruments from a subscription-list ``result``; ``None`` if its shape is unknown."""
    entries: object = result
    if isinstance(result, dict):
        found = [result[k] for k in _LIST_KEYS if k in result]
        if not found:
            return None
        entries = found[0]
    if not isinstance(entries, list):
        return None
    out: list[Instrument] = []
    for entry in entries:
        item = entry
        if isinstance(entry, str):  # listQuotes style: a JSON string per instrument
            try:
                item = json.loads(entry)
            except ValueError:
                return None
        if not isinstance(item, dict):
            return None
        seg = item.get("exchangeSegment", item.get("ExchangeSegment"))
        iid = item.get("exchangeInstrumentID", item.get("ExchangeInstrumentID"))
        if not isinstance(seg, int | str) or not isinstance(iid, int | str):
            return None
        try:
            out.append((int(seg), int(iid)))  # ids may come as strings
        except ValueError:
            return None
    return tuple(out)


def _redact(text: str, hidden: Sequence[str]) -> str:
    return scrub(text, *hidden)
