"""glsdk: the game-server side of the GameLift Server SDK 5 WebSocket protocol, in Python.

An independent implementation of what the official Go, C++ and C# server SDKs do on the wire
(docs: shared/reference/gamelift-wire.md section 7, "7.x" below), so hangar's e2e tests can drive
hangard's `/sdk` endpoint as a real game server would, and misbehave on purpose when a test needs
it. Standard library plus Debian's python3-websocket (websocket-client) only.

    import glsdk
    sdk = glsdk.ServerSdk("ws://127.0.0.1:8080/sdk", fleet_id, host_id, auth_token=token)
    sdk.connect()
    sdk.process_ready(7777, ["/local/game/logs"])         # ActivateServerProcess
    gs = sdk.wait_push("CreateGameSession", timeout=10)   # a dict, as received
    sdk.activate_game_session()                            # the id of the last CreateGameSession
    sdk.accept_player_session(None, "psess-...")
    sdk.process_ending()
    sdk.close()

class ServerSdk(websocket_url, fleet_id, host_id, process_id=None, auth_token=None,
                sigv4=None, sdk_language="Go", sdk_version=None, flavor=None, ...)
  Identity: process_id (query `pID`, default a fresh UUID), host_id (`ComputeId`), fleet_id.
  Auth (7.1, 7.6): auth_token=..., or sigv4=SigV4Credentials(access_key, secret_key, region,
      session_token=None) (a dict with those keys works too); sigv4_time=datetime to sign with a
      chosen clock (default now, UTC).
  sdk_language: the value sent as `sdkLanguage` / `SdkLanguage` ("Go", "Cpp", "CSharp" are what
      the official SDKs send; anything else is sent as given). sdk_version: default per language
      (Go 5.6.0, Cpp 5.4.0, CSharp 5.4.0).
  flavor: "go" | "cpp" | "csharp", which SDK's habits to copy; default from sdk_language ("go"
      for unknown languages). It decides (7.0, 7.1):
        URL     go: query replaced, keys sorted, values URL-encoded (Go url.Values.Encode);
                cpp: "/" appended to the base URL if missing, keys sorted, values NOT encoded
                    (except the SigV4 credential/signature/token, which C++ encodes itself);
                csharp: base + "?" + fixed order ComputeId, FleetId, pID, sdkLanguage,
                    sdkVersion, IdempotencyToken, then Authorization or the sorted, encoded SigV4
                    keys; not encoded.
        ids     RequestId / IdempotencyToken: UUIDs (go, csharp) or 32 random letters and digits
                (cpp).
        closing go: drop TCP with no close frame; cpp: close code 1001; csharp: close code 1000.
                Same for the old socket after a RefreshConnection.
        refresh drain: go keeps the old socket 5 s after a refresh; cpp, csharp close it at once.
        LogPaths: go sends null when there are none, cpp/csharp [].
        dispatch: go/cpp treat RequestId "" as absent; csharp only a missing/null RequestId.
        User-Agent: go "gamelift-go-sdk/1.0", cpp "WebSocket++/0.8.2", csharp none.
  TLS (wss://): sslopt (passed to websocket-client), ssl_context, insecure=True (accept any
      certificate and host name, as the C++ SDK does), tls12_only=True (pin TLS 1.2 like C++/C#).
  Timeouts: call_timeout (20 s, SERVICE_CALL_TIMEOUT), ready_timeout (ProcessReady: 6 s for
      go/csharp, 20 s for cpp), connect_timeout (10 s, handshake).
  Options: heartbeat_interval (None = no automatic heartbeats, the default for tests; when set,
      the first beat goes right after ProcessReady, 7.0), heartbeat_jitter (0), health=True (bool
      or a callable giving the HealthStatus); auto_refresh=True (act on RefreshConnection);
      refresh_drain (seconds, default per flavor); auto_reconnect=False (reconnect to the same URL
      after an abnormal close, 7.1), reconnect_delay=0.5, reconnect_attempts=3;
      fail_pending_on_close=True (a request waiting on a socket that died with no reconnect fails
      at once with SdkClosed instead of timing out); strict=True (replies whose shape is not what
      the SDKs can parse raise SdkProtocolError; 7.5); headers (extra handshake headers);
      callbacks on_create_game_session, on_update_game_session, on_terminate_process,
      on_refresh_connection (each gets the push dict; run on one worker thread, so they may call
      SDK methods).

  Connection:  connect() -> self; reconnect(new_token=False, close_old=..., drain=0) opens a new
      socket to the SAME URL (same pID, same IdempotencyToken unless new_token) and does not
      resend ActivateServerProcess (7.0); refresh(endpoint, auth_token) does what a
      RefreshConnection push does; close(code=<flavor default>, reason="", wait=2.0) with code
      1000, 1001, any int, or None/"drop" for a TCP close with no close frame (Go); kill() ends the
      TCP connection abruptly (RST); destroy() = close() with the flavor's default;
      wait_closed(timeout) -> (code, reason) when the service closes the current socket.
      Also a context manager (close() on exit).
  Requests (7.3), each returns the reply dict or raises SdkError (StatusCode, ErrorMessage):
      process_ready(port, log_paths=None, ...), heartbeat(healthy=True),
      activate_game_session(gs_id=None), update_player_session_creation_policy(gs_id, policy),
      accept_player_session(gs_id, ps_id), remove_player_session(gs_id, ps_id),
      describe_player_sessions(**filters) (GameSessionId= or game_session_id=, PlayerId,
      PlayerSessionId, PlayerSessionStatusFilter, NextToken, Limit), process_ending(),
      get_compute_certificate(), get_fleet_role_credentials(role_arn, role_session_name=None),
      start_match_backfill(gs_arn, config_arn, players, ticket_id=""), stop_match_backfill(...).
      gs_id None means the id of the last CreateGameSession, as the SDKs do. player(...) builds a
      WebSocket Player (7.5).
  Raw: request(action, timeout=None, request_id=None, **fields) -> reply;
      send_request(action, request_id=None, **fields) -> Pending (wait(timeout) -> reply,
      .replies = every reply seen with that RequestId, .frame, .text); send_frame(dict) sends a
      whole request frame as given (None values kept) -> Pending; resend(pending) sends the same
      text again with the SAME RequestId (C++ retry, 7.2); send(obj) sends a dict (as JSON), a
      str (as is, text frame) or bytes (binary frame) with no bookkeeping. Fields whose value is
      None are left out of requests (Go's omitempty); pass "" to send an empty string.
  Pushes (7.4): wait_push(action=None, timeout=5.0, match=None) takes the oldest unconsumed push
      of that Action (others stay queued); pending_pushes(); .pushes lists every push seen;
      on(action, fn) sets a callback; game_session_id, termination_time (epoch ms) keep what the
      SDKs keep. CreateGameSession callbacks run only after ProcessReady succeeded (as in the
      SDKs); the push is queued either way.
  Heartbeats: heartbeat(healthy) sends one; start_heartbeat(interval, jitter, immediate=True),
      stop_heartbeat(); heartbeats_sent, heartbeat_errors.
  Inspection: url, idempotency_token, connected, connection (the current Connection),
      connections (all: id, url, close_code, close_reason, closed_by, error, handshake_headers),
      frames (recent (time, ">"/"<", conn id, payload)), violations (shape problems in what the
      service sent), unmatched (replies to no request), late_replies (to requests already
      answered or given up), malformed (frames an SDK would drop), refresh_count,
      reconnect_count, refresh_errors, events.

Errors: SdkError(status_code, error_message, action, request_id, reply) with .error_type as in Go's
getErrorTypeForStatusCode; SdkTimeout (no reply in time; also TimeoutError), SdkClosed (not
connected, or the socket died), SdkConnectError (upgrade refused: .http_status), SdkProtocolError
(strict mode, a reply the SDKs could not parse).

Helpers: build_url(...), sigv4_query_params(...) (tested against the Go SDK's own vector),
player(...), new_id(flavor), shape_problems(msg), error_type_for_status(code).

CLI, handy for manual runs (missing options come from the GAMELIFT_SDK_* variables of 7.7):
    python3 tests/e2e/glsdk.py --url ws://127.0.0.1:8080/sdk --fleet fleet-... --host h1 \
        --token TOKEN --port 7777
connects, goes ready, heartbeats, logs pushes, activates any game session it is given, accepts
its RESERVED player sessions (polling DescribePlayerSessions), and on TerminateProcess or
SIGINT/SIGTERM calls ProcessEnding and exits.
"""

import argparse
import collections
import datetime
import hashlib
import hmac
import json
import logging
import os
import queue
import random
import secrets
import signal
import socket
import ssl
import string
import struct
import sys
import threading
import time
import urllib.parse
import uuid

import websocket
from websocket import ABNF
from websocket import _abnf

# The SDKs' WebSocket libraries (Go's gorilla, C++'s websocketpp, .NET's ClientWebSocket) accept
# the IANA-registered close codes 1012 "service restart", 1013 "try again later" and 1014;
# Debian's websocket-client refuses them as "Invalid close opcode", which would hide the code
# hangard sends when it restarts. Accept them as the SDKs do.
_abnf.VALID_CLOSE_STATUS = tuple(sorted(set(_abnf.VALID_CLOSE_STATUS) | {1012, 1013, 1014}))

log = logging.getLogger("glsdk")

# Actions the service pushes (7.4). A frame with one of these Actions and no error status goes to
# the push handlers, whatever its RequestId (7.2 dispatch rule).
PUSH_ACTIONS = ("CreateGameSession", "UpdateGameSession", "TerminateProcess", "RefreshConnection")

DEFAULT_SDK_VERSION = {"Go": "5.6.0", "Cpp": "5.4.0", "CSharp": "5.4.0"}
FLAVOR_OF_LANGUAGE = {"Go": "go", "Cpp": "cpp", "CSharp": "csharp"}
FLAVORS = ("go", "cpp", "csharp")

DROP = "drop"  # close(DROP): end TCP with no close frame, as Go's gorilla conn.Close() does (7.0)
_DEFAULT = object()

# How each SDK ends a socket it is done with (7.0): Go closes TCP, C++ sends 1001, C# sends 1000.
_CLOSE_OF_FLAVOR = {"go": DROP, "cpp": 1001, "csharp": 1000}
# Seconds the old socket stays open (and is still read) after a RefreshConnection: Go's
# DISCONNECT_WEBSOCKET_TIMEOUT is 5 s; C++ and C# close the old one as soon as the new one is up.
_DRAIN_OF_FLAVOR = {"go": 5.0, "cpp": 0.0, "csharp": 0.0}
# How long ProcessReady waits for its reply: Go and C# 6 s, C++ 20 s (7.0, 7.2).
_READY_TIMEOUT_OF_FLAVOR = {"go": 6.0, "cpp": 20.0, "csharp": 6.0}
_USER_AGENT_OF_FLAVOR = {"go": "gamelift-go-sdk/1.0", "cpp": "WebSocket++/0.8.2", "csharp": None}

# Go getErrorTypeForStatusCode (7.2).
_ERROR_TYPES = {400: "BadRequestException", 401: "UnauthorizedException",
                403: "ForbiddenException", 404: "NotFoundException", 409: "ConflictException",
                429: "TooManyRequestsException"}


def error_type_for_status(status_code):
    """The Go SDK's error type name for a reply's StatusCode."""
    if isinstance(status_code, int) and 400 <= status_code < 500:
        return _ERROR_TYPES.get(status_code, "BadRequestException")
    return "InternalServiceException"


class SdkError(Exception):
    """An error reply (StatusCode != 200 with a RequestId), or a local failure (subclasses)."""

    def __init__(self, status_code, error_message, action=None, request_id=None, reply=None):
        self.status_code = status_code
        self.error_message = error_message
        self.action = action
        self.request_id = request_id
        self.reply = reply
        super().__init__("%s %s: StatusCode=%r ErrorMessage=%r" % (
            action or "?", request_id or "", status_code, error_message))

    @property
    def error_type(self):
        return error_type_for_status(self.status_code)


class SdkTimeout(SdkError, TimeoutError):
    """No reply (or push) within the time allowed."""

    def __init__(self, message, action=None, request_id=None):
        SdkError.__init__(self, None, message, action, request_id)


class SdkClosed(SdkError):
    """Not connected, or the socket a request was waiting on died."""

    def __init__(self, message, action=None, request_id=None):
        SdkError.__init__(self, None, message, action, request_id)


class SdkConnectError(SdkError):
    """The WebSocket upgrade failed; http_status is the refused upgrade's status, if any."""

    def __init__(self, message, http_status=None, body=None):
        SdkError.__init__(self, http_status, message, "connect")
        self.http_status = http_status
        self.body = body


class SdkProtocolError(SdkError):
    """strict mode: a reply whose shape the official SDKs could not parse (7.5)."""

    def __init__(self, problems, action=None, request_id=None, reply=None):
        SdkError.__init__(self, None, "; ".join(problems), action, request_id, reply)
        self.problems = problems


class SigV4Credentials(collections.namedtuple(
        "SigV4Credentials", "access_key secret_key region session_token")):
    """Credentials for SigV4 mode (7.6): what InitSDK gets from GAMELIFT_ACCESS_KEY etc."""

    def __new__(cls, access_key, secret_key, region, session_token=None):
        return super().__new__(cls, access_key, secret_key, region, session_token)


# ---------------------------------------------------------------------------------------------
# URL building (7.1) and SigV4 query signing (7.6)

def _random_alnum(n=32):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_id(flavor="go"):
    """A RequestId / IdempotencyToken as that SDK makes them: a UUID, or for C++ 32 letters and
    digits (7.0)."""
    return _random_alnum(32) if flavor == "cpp" else str(uuid.uuid4())


def _go_escape(s):
    # Go url.QueryEscape: everything but [A-Za-z0-9-_.~] is %XX, and space is "+".
    return urllib.parse.quote_plus(s, safe="")


def _uri_escape(s):
    # C++ UriEncoder::UriEncode and C# Uri.EscapeDataString: unreserved kept, the rest %XX
    # (upper-case hex), space as %20.
    return urllib.parse.quote(s, safe="-_.~")


def sigv4_query_params(to_sign, access_key, secret_key, region, session_token=None, when=None,
                       flavor="go"):
    """The SigV4 query keys the SDKs add when they have no auth token (7.6).

    The "canonical request" is not AWS's: it is just the key-sorted, URL-encoded query string of
    `to_sign` (the SDKs pass exactly {ComputeId, FleetId, pID}); StringToSign is
    "AWS4-HMAC-SHA256\\n<X-Amz-Date>\\n<date>/<region>/gamelift/aws4_request\\n<hex sha256>", and
    the key is derived as in 1.7 with service "gamelift". Returns {key: raw value} (not encoded)
    in the order Go builds it; `when` is a datetime (UTC assumed if naive), default now.
    Go encodes the canonical string with url.QueryEscape, C++/C# with RFC 3986 escaping; they
    differ only for values with spaces or similar, which valid ids never have."""
    if when is None:
        when = datetime.datetime.now(datetime.timezone.utc)
    elif when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    date = when.strftime("%Y%m%d")
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    esc = _go_escape if flavor == "go" else _uri_escape
    canonical = "&".join("%s=%s" % (esc(k), esc(to_sign[k])) for k in sorted(to_sign))
    scope = "%s/%s/gamelift/aws4_request" % (date, region)
    string_to_sign = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (
        amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest())

    def _hmac(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, "gamelift")
    key = _hmac(key, "aws4_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    params = {
        "Authorization": "SigV4",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "%s/%s" % (access_key, scope),
        "X-Amz-Date": amz_date,
        "X-Amz-Signature": signature,
    }
    if session_token:
        params["X-Amz-Security-Token"] = session_token
    return params


def build_url(websocket_url, process_id, host_id, fleet_id, sdk_language="Go", sdk_version=None,
              idempotency_token=None, auth_token=None, sigv4=None, sigv4_time=None,
              flavor="go"):
    """The URL an SDK of that flavor connects to (7.1). Parse it by name, never by position."""
    if sdk_version is None:
        sdk_version = DEFAULT_SDK_VERSION.get(sdk_language, "5.6.0")
    if idempotency_token is None:
        idempotency_token = new_id(flavor)
    sig = None
    if not auth_token and sigv4 is not None:
        if isinstance(sigv4, dict):
            sigv4 = SigV4Credentials(**sigv4)
        sig = sigv4_query_params({"ComputeId": host_id, "FleetId": fleet_id, "pID": process_id},
                                 sigv4.access_key, sigv4.secret_key, sigv4.region,
                                 sigv4.session_token, sigv4_time, flavor)
    base = {"pID": process_id, "sdkVersion": sdk_version, "sdkLanguage": sdk_language,
            "ComputeId": host_id, "FleetId": fleet_id, "IdempotencyToken": idempotency_token}
    if flavor == "go":
        # gamelift_manager.go: url.Values{...}.Encode() replaces the URL's query entirely;
        # Encode sorts by key and QueryEscapes keys and values.
        params = dict(base)
        if auth_token:
            params["Authorization"] = auth_token
        elif sig:
            params.update(sig)
        parts = urllib.parse.urlsplit(websocket_url)
        query = "&".join("%s=%s" % (_go_escape(k), _go_escape(params[k])) for k in sorted(params))
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query,
                                        parts.fragment))
    if flavor == "cpp":
        # GameLiftWebSocketClientManager::Connect: "/" appended to the base if missing; the keys
        # go into a std::map (sorted), values written as they are. AwsSigV4Utility encodes the
        # credential, signature and session token itself; the other SigV4 values are plain.
        if not websocket_url.endswith("/"):
            websocket_url += "/"
        params = dict(base)
        if auth_token:
            params["Authorization"] = auth_token
        elif sig:
            for k, v in sig.items():
                enc = k in ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-Security-Token")
                params[k] = _uri_escape(v) if enc else v
        return websocket_url + "?" + "&".join("%s=%s" % (k, params[k]) for k in sorted(params))
    if flavor == "csharp":
        # GameLiftWebSocket.CreateUri: fixed order, nothing encoded, then "&Authorization=..." or
        # the SigV4 string, which AwsSigV4Utility builds sorted and Uri.EscapeDataString-encoded.
        order = ("ComputeId", "FleetId", "pID", "sdkLanguage", "sdkVersion", "IdempotencyToken")
        url = websocket_url + "?" + "&".join("%s=%s" % (k, base[k]) for k in order)
        if auth_token:
            url += "&Authorization=" + auth_token
        elif sig:
            url += "&" + "&".join("%s=%s" % (_uri_escape(k), _uri_escape(sig[k]))
                                  for k in sorted(sig))
        return url
    raise ValueError("flavor must be one of %s, not %r" % (FLAVORS, flavor))


# ---------------------------------------------------------------------------------------------
# Shapes the SDKs can parse (7.4, 7.5): used to flag what hangard sends wrong.

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_fields(obj, where, ints=(), strs=(), problems=None):
    problems = [] if problems is None else problems
    for k in ints:
        if k in obj and obj[k] is not None and not _is_int(obj[k]):
            problems.append("%s.%s must be an integer, got %r" % (where, k, obj[k]))
    for k in strs:
        if k in obj and obj[k] is not None and not isinstance(obj[k], str):
            problems.append("%s.%s must be a string, got %r" % (where, k, obj[k]))
    return problems


def _check_game_properties(obj, where, problems):
    gp = obj.get("GameProperties")
    if gp is None:
        return
    # On the socket GameProperties is an object {"k": "v"}, not the HTTP API's [{Key, Value}].
    if not isinstance(gp, dict):
        problems.append("%s.GameProperties must be a JSON object, got %r" % (where, gp))
    elif not all(isinstance(v, str) for v in gp.values()):
        problems.append("%s.GameProperties values must be strings, got %r" % (where, gp))


_GS_STRS = ("GameSessionId", "GameSessionData", "MatchmakerData", "IpAddress", "DnsName")


def shape_problems(msg):
    """What in a service frame the official SDKs could not parse (empty list when fine)."""
    action = msg.get("Action")
    p = _check_fields(msg, action or "frame", ints=("StatusCode",),
                      strs=("Action", "RequestId", "ErrorMessage"))
    if action == "CreateGameSession":
        _check_fields(msg, action, ints=("MaximumPlayerSessionCount", "Port"),
                      strs=_GS_STRS + ("GameSessionName",), problems=p)
        _check_game_properties(msg, action, p)
    elif action == "UpdateGameSession":
        gs = msg.get("GameSession")
        if not isinstance(gs, dict):
            p.append("UpdateGameSession.GameSession must be an object, got %r" % (gs,))
        else:
            _check_fields(gs, "GameSession", ints=("MaximumPlayerSessionCount", "Port"),
                          strs=_GS_STRS + ("Name", "FleetId"), problems=p)
            _check_game_properties(gs, "GameSession", p)
        _check_fields(msg, action, strs=("UpdateReason", "BackfillTicketId"), problems=p)
    elif action == "TerminateProcess":
        _check_fields(msg, action, ints=("TerminationTime",), problems=p)
    elif action == "RefreshConnection":
        _check_fields(msg, action, strs=("RefreshConnectionEndpoint", "AuthToken"), problems=p)
    elif action == "DescribePlayerSessions" and msg.get("StatusCode") == 200:
        _check_fields(msg, action, strs=("NextToken",), problems=p)
        sessions = msg.get("PlayerSessions")
        if sessions is not None and not isinstance(sessions, list):
            p.append("PlayerSessions must be a list, got %r" % (sessions,))
        for i, s in enumerate(sessions or []):
            if not isinstance(s, dict):
                p.append("PlayerSessions[%d] must be an object" % i)
                continue
            # C++ parses these with GetInt64: epoch milliseconds as JSON integers (7.5).
            _check_fields(s, "PlayerSessions[%d]" % i,
                          ints=("CreationTime", "TerminationTime", "Port"),
                          strs=("PlayerId", "PlayerSessionId", "GameSessionId", "FleetId",
                                "PlayerData", "IpAddress", "DnsName", "Status"), problems=p)
    elif action == "GetFleetRoleCredentials" and msg.get("StatusCode") == 200:
        _check_fields(msg, action, ints=("Expiration",),
                      strs=("AssumedRoleUserArn", "AssumedRoleId", "AccessKeyId",
                            "SecretAccessKey", "SessionToken"), problems=p)
    elif action == "GetComputeCertificate" and msg.get("StatusCode") == 200:
        _check_fields(msg, action, strs=("CertificatePath", "ComputeName"), problems=p)
    elif action == "StartMatchBackfill" and msg.get("StatusCode") == 200:
        _check_fields(msg, action, strs=("TicketId",), problems=p)
    return p


def player(player_id, team=None, latency=None, **attributes):
    """A WebSocket Player for StartMatchBackfill (7.5). Attribute values: str -> STRING,
    int/float -> DOUBLE, list of str -> STRING_LIST, dict str->number -> STRING_DOUBLE_MAP."""
    attrs = {}
    for name, v in attributes.items():
        if isinstance(v, str):
            attrs[name] = {"AttrType": "STRING", "S": v}
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            attrs[name] = {"AttrType": "DOUBLE", "N": v}
        elif isinstance(v, (list, tuple)):
            attrs[name] = {"AttrType": "STRING_LIST", "SL": list(v)}
        elif isinstance(v, dict):
            attrs[name] = {"AttrType": "STRING_DOUBLE_MAP", "SDM": dict(v)}
        else:
            raise TypeError("attribute %s: unsupported value %r" % (name, v))
    p = {"PlayerId": player_id}
    if team is not None:
        p["Team"] = team
    p["PlayerAttributes"] = attrs
    if latency is not None:
        p["LatencyInMs"] = dict(latency)
    return p


# ---------------------------------------------------------------------------------------------

class Connection:
    """One WebSocket of a ServerSdk (there are two for a while after a refresh)."""

    def __init__(self, cid, url, ws):
        self.id = cid
        self.url = url
        self.ws = ws
        self.opened = time.monotonic()
        self.closed = threading.Event()  # set when its reader has ended
        self.close_code = None           # code of the close frame the service sent, if any
        self.close_reason = None
        self.closed_by = None            # "service", "us" (close/drop/kill), or "error"
        self.error = None                # what ended the reader, if not a close frame
        self.close_sent = False
        self.handshake_headers = dict(ws.getheaders() or {})
        self.thread = None

    def __repr__(self):
        return "<Connection %d %s%s>" % (self.id, "closed " if self.closed.is_set() else "",
                                         self.url)


class Pending:
    """A request sent and its replies. wait() gives the first reply or raises."""

    def __init__(self, sdk, action, request_id, frame, text):
        self.sdk = sdk
        self.action = action
        self.request_id = request_id
        self.frame = frame          # the dict sent
        self.text = text            # the exact JSON text sent (resend() sends it again)
        self.replies = []           # every reply seen with this RequestId (duplicates too)
        self.sent = 1
        self._done = threading.Event()
        self._reply = None
        self._error = None

    def _complete(self, reply=None, error=None):
        if not self._done.is_set():
            self._reply, self._error = reply, error
            self._done.set()

    @property
    def done(self):
        return self._done.is_set()

    def wait(self, timeout=None):
        """The reply (dict) or raise SdkError / SdkTimeout / SdkClosed / SdkProtocolError. On
        timeout the request is forgotten like the SDKs do (a late reply lands in .replies and in
        sdk.late_replies, and completes nothing)."""
        if timeout is None:
            timeout = self.sdk.call_timeout
        if not self._done.wait(timeout):
            self.sdk._forget(self)
            if not self._done.is_set():
                raise SdkTimeout("no reply within %.1f s" % timeout, self.action, self.request_id)
        if self._error is not None:
            raise self._error
        return self._reply


class ServerSdk:
    """The game-server side of the Server SDK 5 WebSocket protocol. See the module docstring."""

    def __init__(self, websocket_url, fleet_id, host_id, process_id=None, auth_token=None,
                 sigv4=None, sdk_language="Go", sdk_version=None, flavor=None, sigv4_time=None,
                 sslopt=None, ssl_context=None, insecure=False, tls12_only=False,
                 call_timeout=20.0, ready_timeout=None, connect_timeout=10.0,
                 heartbeat_interval=None, heartbeat_jitter=0.0, health=True,
                 auto_refresh=True, refresh_drain=None, auto_reconnect=False,
                 reconnect_delay=0.5, reconnect_attempts=3, fail_pending_on_close=True,
                 strict=True, headers=None, on_create_game_session=None,
                 on_update_game_session=None, on_terminate_process=None,
                 on_refresh_connection=None):
        if auth_token and sigv4 is not None:
            raise ValueError("auth_token and sigv4 are mutually exclusive (7.6)")
        self.websocket_url = websocket_url
        self.fleet_id = fleet_id
        self.host_id = host_id
        self.process_id = process_id or str(uuid.uuid4())
        self.auth_token = auth_token
        self.sigv4 = SigV4Credentials(**sigv4) if isinstance(sigv4, dict) else sigv4
        self.sigv4_time = sigv4_time
        self.sdk_language = sdk_language
        self.sdk_version = sdk_version or DEFAULT_SDK_VERSION.get(sdk_language, "5.6.0")
        self.flavor = flavor or FLAVOR_OF_LANGUAGE.get(sdk_language, "go")
        if self.flavor not in FLAVORS:
            raise ValueError("flavor must be one of %s" % (FLAVORS,))
        self.sslopt = dict(sslopt or {})
        if ssl_context is not None or tls12_only or insecure:
            ctx = ssl_context or ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif ssl_context is None:
                ctx.load_default_certs()
            if tls12_only:
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            self.sslopt["context"] = ctx
            if insecure:
                self.sslopt.setdefault("cert_reqs", ssl.CERT_NONE)
                self.sslopt.setdefault("check_hostname", False)
        self.call_timeout = call_timeout
        self.ready_timeout = _READY_TIMEOUT_OF_FLAVOR[self.flavor] if ready_timeout is None \
            else ready_timeout
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_jitter = heartbeat_jitter
        self.health = health
        self.auto_refresh = auto_refresh
        self.refresh_drain = _DRAIN_OF_FLAVOR[self.flavor] if refresh_drain is None \
            else refresh_drain
        self.auto_reconnect = auto_reconnect
        self.reconnect_delay = reconnect_delay
        self.reconnect_attempts = reconnect_attempts
        self.fail_pending_on_close = fail_pending_on_close
        self.strict = strict
        self.extra_headers = list(headers or [])
        self.callbacks = {"CreateGameSession": on_create_game_session,
                          "UpdateGameSession": on_update_game_session,
                          "TerminateProcess": on_terminate_process,
                          "RefreshConnection": on_refresh_connection}

        # state the SDKs keep
        self.ready = False
        self.game_session_id = None
        self.termination_time = None

        # connections
        self.url = None
        self.idempotency_token = None
        self.connections = []
        self._current = None
        self._conn_lock = threading.RLock()   # held while switching sockets and while sending
        self._closed = False                   # close()/kill() called: no more auto reconnects
        self._next_cid = 1
        self.refresh_count = 0
        self.reconnect_count = 0
        self.refresh_errors = []

        # requests
        self._pending = {}                     # RequestId -> Pending, in flight
        self._known = collections.OrderedDict()  # RequestId -> Pending, recent ones, for .replies
        self._req_lock = threading.Lock()
        self.late_replies = []
        self.unmatched = []
        self.malformed = []
        self.violations = []
        self.frames = collections.deque(maxlen=5000)
        self.events = collections.deque(maxlen=1000)

        # pushes
        self.pushes = []
        self._push_buffer = []
        self._push_cond = threading.Condition()
        self._cb_queue = queue.Queue()
        self._cb_thread = None

        # heartbeats
        self._hb_stop = None
        self._hb_thread = None
        self.heartbeats_sent = 0
        self.heartbeat_errors = []

    # -- connection management ----------------------------------------------------------------

    def build_url(self, idempotency_token=None):
        """A fresh connect URL (new IdempotencyToken unless given; SigV4 signed now)."""
        return build_url(self.websocket_url, self.process_id, self.host_id, self.fleet_id,
                         self.sdk_language, self.sdk_version, idempotency_token,
                         self.auth_token, self.sigv4, self.sigv4_time, self.flavor)

    @staticmethod
    def _token_of(url):
        q = urllib.parse.urlsplit(url).query
        for part in q.split("&"):
            k, _, v = part.partition("=")
            if k == "IdempotencyToken":
                return urllib.parse.unquote_plus(v)
        return None

    def _open(self, url):
        """Opens one WebSocket and starts its reader. Raises SdkConnectError."""
        hdrs = list(self.extra_headers)
        ua = _USER_AGENT_OF_FLAVOR[self.flavor]
        if ua and not any(h.lower().startswith("user-agent:") for h in hdrs):
            hdrs.append("User-Agent: " + ua)
        try:
            ws = websocket.create_connection(
                url, timeout=self.connect_timeout, sslopt=self.sslopt, header=hdrs,
                suppress_origin=True, http_no_proxy=["*"], enable_multithread=True)
        except websocket.WebSocketBadStatusException as e:
            raise SdkConnectError("upgrade refused: %s" % e, getattr(e, "status_code", None),
                                  getattr(e, "resp_body", None)) from None
        except (OSError, websocket.WebSocketException) as e:
            raise SdkConnectError("connect to %s failed: %r" % (url, e)) from None
        ws.settimeout(None)
        with self._conn_lock:
            conn = Connection(self._next_cid, url, ws)
            self._next_cid += 1
            self.connections.append(conn)
        conn.thread = threading.Thread(target=self._read_loop, args=(conn,), daemon=True,
                                       name="glsdk-read-%d" % conn.id)
        conn.thread.start()
        self._event("open", conn.id, url)
        log.debug("connection %d open: %s", conn.id, url)
        return conn

    def connect(self, retries=0, retry_delay=1.0):
        """Opens the socket (InitSDK). The handshake is the registration: nothing is sent.
        retries > 0 retries a failed handshake (the SDKs back off 4 s, 8 s, ... for ~2.5 min)."""
        url = self.build_url()
        for attempt in range(retries + 1):
            try:
                conn = self._open(url)
                break
            except SdkConnectError:
                if attempt == retries:
                    raise
                time.sleep(retry_delay * (2 ** attempt))
        with self._conn_lock:
            self._closed = False
            self._current = conn
            self.url = url
            self.idempotency_token = self._token_of(url)
        return self

    @property
    def connected(self):
        c = self._current
        return c is not None and not c.closed.is_set()

    @property
    def connection(self):
        """The current Connection (the one requests go out on)."""
        return self._current

    def _switch_to(self, url, close_old, drain):
        """Opens `url`, makes it current, then closes the previous socket after `drain` seconds
        (reading it meanwhile, as Go does: a reply may still come on it)."""
        with self._conn_lock:
            old = self._current
            new = self._open(url)
            self._current = new
            self.url = url
            self.idempotency_token = self._token_of(url)
        if old is not None and not old.closed.is_set():
            if close_old is _DEFAULT:
                close_old = _CLOSE_OF_FLAVOR[self.flavor]
            if drain and drain > 0:
                t = threading.Timer(drain, self._close_conn, args=(old, close_old))
                t.daemon = True
                t.start()
            else:
                self._close_conn(old, close_old, wait=0)
        return new

    def reconnect(self, new_token=False, close_old=_DEFAULT, drain=0.0):
        """A new socket to the same URL: same pID, ComputeId, FleetId and (unless new_token,
        which C++ does after two timeouts) the same IdempotencyToken and auth; does NOT resend
        ActivateServerProcess (7.0/7.1). The old socket, if still open, is closed after `drain`
        seconds with close_old (an int code, DROP, or the flavor's default)."""
        if self.url is None:
            raise SdkClosed("never connected")
        url = self.build_url() if new_token else self.url
        conn = self._switch_to(url, close_old, drain)
        with self._conn_lock:
            self._closed = False
        self.reconnect_count += 1
        self._event("reconnect", conn.id, url)
        return conn

    def refresh(self, endpoint, auth_token, close_old=_DEFAULT, drain=None):
        """What the SDKs do on RefreshConnection (7.4): connect to `endpoint` with the new token
        (token mode from now on, same pID/ComputeId/FleetId, a new IdempotencyToken), then close
        the old socket after the flavor's drain time."""
        with self._conn_lock:
            self.websocket_url = endpoint
            self.auth_token = auth_token
            self.sigv4 = None
            url = self.build_url()
        conn = self._switch_to(url, close_old, self.refresh_drain if drain is None else drain)
        self.refresh_count += 1
        self._event("refresh", conn.id, url)
        return conn

    def _close_conn(self, conn, how, wait=2.0, reason=b""):
        """Ends one socket: an int = send a close frame with that code, wait up to `wait` s for
        the service's close frame, then close TCP; DROP/None = close TCP with no close frame
        (Go); "kill" = reset the TCP connection (SO_LINGER 0)."""
        if conn.closed.is_set():
            return
        conn.closed_by = conn.closed_by or "us"
        ws = conn.ws
        if how is None:
            how = DROP

        def tcp_close(sock, how=socket.SHUT_RDWR):
            # The reader may close the socket at any moment: work on the object we hold.
            if sock is None:
                return
            try:
                socket.socket.shutdown(sock, how)
            except OSError:
                pass
            sock.close()

        try:
            sock = ws.sock
            if how == "kill":
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    # SHUT_RD wakes the reader without sending anything; close() sends the RST
                    tcp_close(sock, socket.SHUT_RD)
            elif how == DROP:
                tcp_close(sock)
            else:
                if isinstance(reason, str):
                    reason = reason.encode("utf-8")
                conn.close_sent = True
                self._record(">", conn, "CLOSE %d %r" % (how, reason))
                ws.send_close(int(how), reason)
                if wait and conn.closed.wait(wait):
                    return
                tcp_close(ws.sock)
        except Exception as e:  # already gone: nothing more to do
            log.debug("closing connection %d: %r", conn.id, e)
        conn.closed.wait(2.0)

    def close(self, code=_DEFAULT, reason="", wait=2.0):
        """Ends the session's socket(s): code 1000, 1001, any int, or None/DROP for a TCP close
        with no close frame (what Go does); default is the flavor's (7.0). No auto reconnect
        after this."""
        if code is _DEFAULT:
            code = _CLOSE_OF_FLAVOR[self.flavor]
        with self._conn_lock:
            self._closed = True
            conns = [c for c in self.connections if not c.closed.is_set()]
        self.stop_heartbeat()
        for c in conns:
            self._close_conn(c, code, wait=wait, reason=reason)
        self._fail_all_pending("closed by the game server")

    def destroy(self):
        """Destroy(): close the way the flavor's SDK does."""
        self.close()

    def kill(self):
        """Abrupt end, like a crashed process: TCP reset, no close frame, nothing else sent."""
        with self._conn_lock:
            self._closed = True
            conns = [c for c in self.connections if not c.closed.is_set()]
        self.stop_heartbeat()
        for c in conns:
            self._close_conn(c, "kill")
        self._fail_all_pending("killed")

    def wait_closed(self, timeout=5.0, conn=None):
        """Waits until the current socket (or `conn`) has ended; returns (close_code,
        close_reason), both None when the service closed TCP with no close frame."""
        conn = conn or self._current
        if conn is None:
            raise SdkClosed("never connected")
        if not conn.closed.wait(timeout):
            raise SdkTimeout("connection %d still open after %.1f s" % (conn.id, timeout))
        return conn.close_code, conn.close_reason

    def __enter__(self):
        if self._current is None:
            self.connect()
        return self

    def __exit__(self, *exc):
        try:
            self.close()
        except Exception:
            pass
        return False

    # -- reading and dispatch -----------------------------------------------------------------

    def _event(self, what, cid, detail=None):
        self.events.append((time.monotonic(), what, cid, detail))

    def _record(self, direction, conn, payload):
        self.frames.append((time.monotonic(), direction, conn.id if conn else None, payload))

    def _read_loop(self, conn):
        ws = conn.ws
        frag_op, frag = None, b""
        try:
            while True:
                fr = ws.recv_frame()
                op = fr.opcode
                if op in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
                    frag_op, frag = op, fr.data
                elif op == ABNF.OPCODE_CONT:
                    frag += fr.data
                elif op == ABNF.OPCODE_PING:
                    ws.pong(fr.data)   # all three SDKs' libraries answer pings
                    continue
                elif op == ABNF.OPCODE_PONG:
                    continue
                elif op == ABNF.OPCODE_CLOSE:
                    data = fr.data or b""
                    conn.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    conn.close_reason = data[2:].decode("utf-8", "replace")
                    conn.closed_by = conn.closed_by or "service"
                    self._record("<", conn, "CLOSE %r %r" % (conn.close_code, conn.close_reason))
                    if not conn.close_sent and self.flavor != "go":
                        # C++/C# answer the close frame; Go's close handler closes TCP first.
                        conn.close_sent = True
                        try:
                            ws.send_close(conn.close_code or 1000)
                        except (OSError, websocket.WebSocketException):
                            pass
                    break
                else:
                    continue
                if not fr.fin:
                    continue
                if frag_op == ABNF.OPCODE_TEXT:
                    try:
                        text = frag.decode("utf-8")
                    except UnicodeDecodeError:
                        self.malformed.append((conn.id, frag, "invalid UTF-8"))
                        continue
                    self._record("<", conn, text)
                    self._on_text(conn, text)
                else:
                    # Only text frames are processed (7.1): Go and C# skip binary ones.
                    self._record("<", conn, frag)
                    self.malformed.append((conn.id, frag, "binary frame ignored"))
                frag_op, frag = None, b""
        except Exception as e:  # EOF, reset, or our own close
            conn.error = e
            if conn.closed_by is None:
                conn.closed_by = "error"
        finally:
            try:
                if ws.sock is not None:
                    ws.sock.close()
            except OSError:
                pass
            ws.sock = None
            ws.connected = False
            conn.closed.set()
            self._event("closed", conn.id, (conn.closed_by, conn.close_code, repr(conn.error)))
            log.debug("connection %d closed by %s code=%r err=%r", conn.id, conn.closed_by,
                      conn.close_code, conn.error)
            self._on_conn_end(conn)

    def _on_conn_end(self, conn):
        with self._conn_lock:
            current = conn is self._current
            closed = self._closed
        if not current or closed or conn.closed_by == "us":
            return
        # An abnormal close (no close frame, or a code other than 1000/1001) makes the SDKs
        # reconnect to the same URL; 1000/1001 makes them stop (7.1).
        abnormal = conn.close_code not in (1000, 1001)
        if abnormal and self.auto_reconnect:
            threading.Thread(target=self._auto_reconnect, args=(conn,), daemon=True,
                             name="glsdk-reconnect").start()
        elif self.fail_pending_on_close:
            self._fail_all_pending("connection %d closed (code %r)" % (conn.id, conn.close_code))

    def _auto_reconnect(self, dead):
        delay = self.reconnect_delay
        for attempt in range(max(1, self.reconnect_attempts)):
            time.sleep(delay)
            with self._conn_lock:
                if self._closed or self._current is not dead:
                    return
            try:
                self.reconnect()
                return
            except SdkConnectError as e:
                self._event("reconnect-failed", dead.id, repr(e))
                delay *= 2
        if self.fail_pending_on_close:
            self._fail_all_pending("reconnect failed")

    def _on_text(self, conn, text):
        try:
            msg = json.loads(text)
        except ValueError as e:
            self.malformed.append((conn.id, text, "not JSON: %s" % e))
            return
        if not isinstance(msg, dict):
            self.malformed.append((conn.id, text, "not a JSON object"))
            return
        problems = shape_problems(msg)
        if problems:
            self.violations.extend("%s (conn %d): %s" % (msg.get("Action"), conn.id, p)
                                   for p in problems)
        status = msg.get("StatusCode", 0)
        rid = msg.get("RequestId")
        action = msg.get("Action")
        if not (_is_int(status) and (rid is None or isinstance(rid, str))
                and (action is None or isinstance(action, str))):
            # Go unmarshals into {Action string, RequestId string, StatusCode int}: a frame that
            # does not fit is dropped whole ("Failed ... when try deserialize response").
            self.malformed.append((conn.id, text, "envelope types"))
            return
        # 7.2 dispatch rule, the same in all three SDKs:
        #  1. StatusCode != 200 and a RequestId -> error reply to that request. (So a push that
        #     carries a RequestId but no StatusCode is mis-routed and lost.) Go/C++ test for a
        #     non-empty RequestId; C# for RequestId != null, so "" counts as present there.
        #  2. else a handler for the Action (the four pushes) -> push.
        #  3. else complete the request with that RequestId.
        has_rid = rid is not None if self.flavor == "csharp" else bool(rid)
        if status != 200 and has_rid:
            err = SdkError(status, msg.get("ErrorMessage"), action, rid, msg)
            self._complete(rid, msg, error=err)
        elif action in PUSH_ACTIONS:
            self._on_push(conn, msg)
        else:
            err = None
            if problems and self.strict:
                err = SdkProtocolError(problems, action, rid, msg)
            self._complete(rid, msg, error=err)

    def _complete(self, rid, msg, error=None):
        with self._req_lock:
            p = self._pending.pop(rid, None) if rid is not None else None
            known = p or self._known.get(rid)
            if known is not None:
                known.replies.append(msg)
        if p is not None:
            p._complete(None if error else msg, error)
        elif known is not None:
            self.late_replies.append(msg)
        else:
            self.unmatched.append(msg)

    def _on_push(self, conn, msg):
        action = msg["Action"]
        log.debug("push %s on connection %d", action, conn.id)
        if action == "CreateGameSession":
            # The SDKs remember the id for ActivateGameSession & co. (They skip the game's
            # callback when ProcessReady has not succeeded; the push is still queued here.)
            self.game_session_id = msg.get("GameSessionId")
        elif action == "TerminateProcess":
            self.termination_time = msg.get("TerminationTime")
        with self._push_cond:
            self.pushes.append(msg)
            self._push_buffer.append(msg)
            self._push_cond.notify_all()
        if action == "RefreshConnection" and self.auto_refresh:
            threading.Thread(target=self._do_refresh, args=(msg,), daemon=True,
                             name="glsdk-refresh").start()
        cb = self.callbacks.get(action)
        if cb is not None and (action != "CreateGameSession" or self.ready):
            self._run_callback(cb, msg)

    def _do_refresh(self, msg):
        try:
            self.refresh(msg.get("RefreshConnectionEndpoint"), msg.get("AuthToken"))
        except Exception as e:  # Go logs and retries each minute; we record it
            self.refresh_errors.append(e)
            self._event("refresh-failed", None, repr(e))
            log.warning("refresh failed: %r", e)

    def _run_callback(self, cb, msg):
        if self._cb_thread is None:
            self._cb_thread = threading.Thread(target=self._cb_loop, daemon=True,
                                               name="glsdk-callbacks")
            self._cb_thread.start()
        self._cb_queue.put((cb, msg))

    def _cb_loop(self):
        while True:
            cb, msg = self._cb_queue.get()
            try:
                cb(msg)
            except Exception:
                log.exception("callback for %s failed", msg.get("Action"))

    def on(self, action, fn):
        """Sets the callback for a push Action (fn(msg_dict)); None removes it."""
        if action not in PUSH_ACTIONS:
            raise ValueError("not a push action: %r" % action)
        self.callbacks[action] = fn

    def wait_push(self, action=None, timeout=5.0, match=None):
        """Takes the oldest unconsumed push of that Action (any if None) for which match(msg) is
        true (when given); pushes of other kinds stay queued. Raises SdkTimeout."""
        deadline = time.monotonic() + timeout
        with self._push_cond:
            while True:
                for i, m in enumerate(self._push_buffer):
                    if (action is None or m.get("Action") == action) and (match is None
                                                                          or match(m)):
                        return self._push_buffer.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SdkTimeout("no %s push within %.1f s (seen: %s)" % (
                        action or "", timeout, [p.get("Action") for p in self.pushes]), action)
                self._push_cond.wait(left)

    def pending_pushes(self):
        """The pushes not yet taken by wait_push."""
        with self._push_cond:
            return list(self._push_buffer)

    # -- sending ------------------------------------------------------------------------------

    def _send_text(self, text, opcode=ABNF.OPCODE_TEXT):
        with self._conn_lock:
            conn = self._current
            if conn is None or conn.closed.is_set():
                raise SdkClosed("not connected")
            try:
                conn.ws.send(text, opcode)
            except (OSError, websocket.WebSocketException) as e:
                raise SdkClosed("send failed: %r" % e) from None
            self._record(">", conn, text)
        return conn

    @staticmethod
    def encode(obj):
        """JSON as Go's encoding/json writes it: compact, UTF-8."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    def send(self, obj):
        """Sends a raw frame with no bookkeeping: a dict (JSON), a str (text frame, as is) or
        bytes (binary frame). Replies to it land in .unmatched unless a request waits for them."""
        if isinstance(obj, (bytes, bytearray)):
            return self._send_text(bytes(obj), ABNF.OPCODE_BINARY)
        return self._send_text(obj if isinstance(obj, str) else self.encode(obj))

    def new_request_id(self):
        return new_id(self.flavor)

    def send_request(self, action, request_id=None, **fields):
        """Sends {"Action", "RequestId", **fields} and returns its Pending (see Pending.wait).
        Fields whose value is None are left out. A RequestId already in flight is refused, as the
        SDKs do (7.2); use resend() to send the same request again."""
        frame = {"Action": action, "RequestId": request_id or self.new_request_id()}
        frame.update((k, v) for k, v in fields.items() if v is not None)
        return self.send_frame(frame)

    def send_frame(self, frame):
        """Sends a request frame given whole (it must have Action and RequestId; sent as is,
        None values included) and returns its Pending."""
        rid, action = frame["RequestId"], frame.get("Action")
        text = self.encode(frame)
        p = Pending(self, action, rid, frame, text)
        with self._req_lock:
            if rid in self._pending:
                raise ValueError("request %s already in flight" % rid)
            self._pending[rid] = p
            self._known[rid] = p
            while len(self._known) > 2000:
                self._known.popitem(last=False)
        try:
            self._send_text(text)
        except SdkClosed as e:
            self._forget(p)
            p._complete(error=SdkClosed(e.error_message, action, rid))
        return p

    def resend(self, pending):
        """Sends the very same frame again, SAME RequestId, as C++ does after a timeout (7.2).
        If the request had been given up (timed out), it waits for a reply again."""
        with self._req_lock:
            if pending.request_id not in self._pending and not pending.done:
                self._pending[pending.request_id] = pending
        pending.sent += 1
        self._send_text(pending.text)
        return pending

    def _forget(self, pending):
        with self._req_lock:
            if self._pending.get(pending.request_id) is pending:
                del self._pending[pending.request_id]

    def _fail_all_pending(self, why):
        with self._req_lock:
            ps = list(self._pending.values())
            self._pending.clear()
        for p in ps:
            p._complete(error=SdkClosed(why, p.action, p.request_id))

    def request(self, action, timeout=None, request_id=None, **fields):
        """send_request(...).wait(timeout): the reply dict, or raises SdkError & co."""
        return self.send_request(action, request_id=request_id, **fields).wait(timeout)

    # -- the SDK calls (7.3) ------------------------------------------------------------------

    def process_ready(self, port, log_paths=None, timeout=None, sdk_tool_name=None,
                      sdk_tool_version=None, start_heartbeat=None):
        """ProcessReady = ActivateServerProcess {SdkVersion, SdkLanguage, [SdkToolName,
        SdkToolVersion,] Port, LogPaths}, waited for ready_timeout (Go: 6 s). Go sends
        "LogPaths": null when there are none (7.0), C++/C# an array. Then starts the automatic
        heartbeat if heartbeat_interval is set or start_heartbeat=True, the first beat at once
        (Go and C++ do that, 7.0)."""
        if log_paths is None and self.flavor != "go":
            log_paths = []
        frame = {"Action": "ActivateServerProcess", "RequestId": self.new_request_id(),
                 "SdkVersion": self.sdk_version, "SdkLanguage": self.sdk_language}
        if sdk_tool_name is not None:
            frame["SdkToolName"] = sdk_tool_name
        if sdk_tool_version is not None:
            frame["SdkToolVersion"] = sdk_tool_version
        frame["Port"] = port
        frame["LogPaths"] = None if log_paths is None else list(log_paths)
        reply = self.send_frame(frame).wait(self.ready_timeout if timeout is None else timeout)
        self.ready = True
        if start_heartbeat or (start_heartbeat is None and self.heartbeat_interval):
            self.start_heartbeat()
        return reply

    def heartbeat(self, healthy=True, timeout=None):
        """HeartbeatServerProcess {HealthStatus}."""
        return self.request("HeartbeatServerProcess", timeout=timeout, HealthStatus=bool(healthy))

    def activate_game_session(self, game_session_id=None, timeout=None):
        return self.request("ActivateGameSession", timeout=timeout,
                            GameSessionId=game_session_id or self.game_session_id)

    def update_player_session_creation_policy(self, game_session_id, policy, timeout=None):
        """Note the field name: PlayerSessionPolicy (ACCEPT_ALL | DENY_ALL), 7.3."""
        return self.request("UpdatePlayerSessionCreationPolicy", timeout=timeout,
                            GameSessionId=game_session_id or self.game_session_id,
                            PlayerSessionPolicy=policy)

    def accept_player_session(self, game_session_id, player_session_id, timeout=None):
        return self.request("AcceptPlayerSession", timeout=timeout,
                            GameSessionId=game_session_id or self.game_session_id,
                            PlayerSessionId=player_session_id)

    def remove_player_session(self, game_session_id, player_session_id, timeout=None):
        return self.request("RemovePlayerSession", timeout=timeout,
                            GameSessionId=game_session_id or self.game_session_id,
                            PlayerSessionId=player_session_id)

    _DPS_FIELDS = {"game_session_id": "GameSessionId", "player_id": "PlayerId",
                   "player_session_id": "PlayerSessionId",
                   "player_session_status_filter": "PlayerSessionStatusFilter",
                   "status": "PlayerSessionStatusFilter", "next_token": "NextToken",
                   "limit": "Limit"}

    def describe_player_sessions(self, timeout=None, **filters):
        """DescribePlayerSessions; filters by wire name (GameSessionId=...) or snake_case
        (game_session_id=..., status=...). The SDKs require exactly one of GameSessionId,
        PlayerId, PlayerSessionId; nothing is checked here. Returns the reply (PlayerSessions,
        NextToken)."""
        fields = {self._DPS_FIELDS.get(k, k): v for k, v in filters.items()}
        return self.request("DescribePlayerSessions", timeout=timeout, **fields)

    def process_ending(self, timeout=None):
        """ProcessEnding = TerminateServerProcess. Stops the heartbeat first, like the SDKs."""
        self.ready = False
        self.stop_heartbeat()
        return self.request("TerminateServerProcess", timeout=timeout)

    def get_compute_certificate(self, timeout=None):
        return self.request("GetComputeCertificate", timeout=timeout)

    def get_fleet_role_credentials(self, role_arn, role_session_name=None, timeout=None):
        """RoleSessionName defaults to "<fleetId>-<hostId>" cut to 64 characters, as C# does."""
        if role_session_name is None:
            role_session_name = ("%s-%s" % (self.fleet_id, self.host_id))[:64]
        return self.request("GetFleetRoleCredentials", timeout=timeout, RoleArn=role_arn,
                            RoleSessionName=role_session_name)

    def start_match_backfill(self, game_session_arn, matchmaking_configuration_arn, players,
                             ticket_id="", timeout=None):
        """StartMatchBackfill; players are WebSocket Players (see player()). Returns the reply
        (TicketId). TicketId is always sent, "" when not chosen (Go has no omitempty on it)."""
        return self.request("StartMatchBackfill", timeout=timeout,
                            GameSessionArn=game_session_arn,
                            MatchmakingConfigurationArn=matchmaking_configuration_arn,
                            TicketId=ticket_id, Players=list(players))

    def stop_match_backfill(self, game_session_arn, matchmaking_configuration_arn, ticket_id,
                            timeout=None):
        return self.request("StopMatchBackfill", timeout=timeout,
                            GameSessionArn=game_session_arn,
                            MatchmakingConfigurationArn=matchmaking_configuration_arn,
                            TicketId=ticket_id)

    # -- heartbeats ---------------------------------------------------------------------------

    def _health_now(self):
        h = self.health
        return bool(h() if callable(h) else h)

    def start_heartbeat(self, interval=None, jitter=None, immediate=True):
        """Heartbeats on a thread: one at once (immediate), then every interval ± jitter s."""
        self.stop_heartbeat()
        interval = interval or self.heartbeat_interval or 60.0
        jitter = self.heartbeat_jitter if jitter is None else jitter
        stop = threading.Event()

        def loop():
            wait = 0.0 if immediate else interval
            while not stop.wait(wait):
                try:
                    self.heartbeat(self._health_now())
                    self.heartbeats_sent += 1
                except SdkError as e:
                    self.heartbeat_errors.append(e)
                wait = max(0.0, interval + random.uniform(-jitter, jitter))

        self._hb_stop = stop
        self._hb_thread = threading.Thread(target=loop, daemon=True, name="glsdk-heartbeat")
        self._hb_thread.start()

    def stop_heartbeat(self):
        if self._hb_stop is not None:
            self._hb_stop.set()
            self._hb_stop = None


# ---------------------------------------------------------------------------------------------
# CLI

def _cli(argv=None):
    env = os.environ.get
    ap = argparse.ArgumentParser(
        description="A minimal game server speaking the GameLift Server SDK 5 protocol.")
    ap.add_argument("--url", default=env("GAMELIFT_SDK_WEBSOCKET_URL"),
                    help="WebSocket URL, e.g. ws://127.0.0.1:8080/sdk")
    ap.add_argument("--fleet", default=env("GAMELIFT_SDK_FLEET_ID"))
    ap.add_argument("--host", default=env("GAMELIFT_SDK_HOST_ID"), help="ComputeName")
    ap.add_argument("--pid", default=env("GAMELIFT_SDK_PROCESS_ID"),
                    help="process id (default: a new UUID)")
    ap.add_argument("--token", default=env("GAMELIFT_SDK_AUTH_TOKEN"), help="compute auth token")
    ap.add_argument("--access-key", default=env("GAMELIFT_ACCESS_KEY"))
    ap.add_argument("--secret-key", default=env("GAMELIFT_SECRET_KEY"))
    ap.add_argument("--session-token", default=env("GAMELIFT_SESSION_TOKEN"))
    ap.add_argument("--region", default=env("GAMELIFT_REGION"))
    ap.add_argument("--port", type=int, default=7777, help="game port for ProcessReady")
    ap.add_argument("--log-path", action="append", default=None)
    ap.add_argument("--language", default="Go", help="sdkLanguage: Go, Cpp or CSharp")
    ap.add_argument("--sdk-version", default=None)
    ap.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    ap.add_argument("--heartbeat", type=float, default=60.0,
                    help="heartbeat interval in seconds (0: none)")
    ap.add_argument("--poll", type=float, default=2.0,
                    help="seconds between looks for RESERVED player sessions to accept")
    ap.add_argument("--no-activate", action="store_true", help="do not activate game sessions")
    ap.add_argument("--no-accept", action="store_true", help="do not accept player sessions")
    ap.add_argument("--end-after", type=float, default=0,
                    help="call ProcessEnding and exit this many seconds after activating a "
                         "game session (0: never)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(asctime)s glsdk %(message)s", stream=sys.stderr)
    if not (a.url and a.fleet and a.host):
        ap.error("--url, --fleet and --host are needed (or GAMELIFT_SDK_* variables)")
    sigv4 = None
    if not a.token:
        if not (a.access_key and a.secret_key and a.region):
            ap.error("--token, or --access-key, --secret-key and --region")
        sigv4 = SigV4Credentials(a.access_key, a.secret_key, a.region, a.session_token)
    sdk = ServerSdk(a.url, a.fleet, a.host, process_id=a.pid, auth_token=a.token, sigv4=sigv4,
                    sdk_language=a.language, sdk_version=a.sdk_version, insecure=a.insecure,
                    heartbeat_interval=a.heartbeat or None, heartbeat_jitter=0.0,
                    auto_reconnect=True, reconnect_attempts=7, reconnect_delay=4.0,
                    strict=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def say(fmt, *args):
        log.info(fmt, *args)

    def ending(why):
        say("%s: ProcessEnding", why)
        try:
            sdk.process_ending(timeout=5)
        except SdkError as e:
            say("ProcessEnding failed: %s", e)
        sdk.close()

    try:
        sdk.connect()
        shown = sdk.url.replace(a.token, "***") if a.token else sdk.url
        say("connected pID=%s %s", sdk.process_id, shown)
        sdk.process_ready(a.port, a.log_path, timeout=20)
    except SdkError as e:
        say("could not get ready: %s", e)
        sdk.close()
        return 2
    say("ready on port %d", a.port)
    accepted = set()
    session = None
    end_at = None
    lost_since = None
    next_poll = time.monotonic()
    while not stop.is_set():
        try:
            push = sdk.wait_push(timeout=0.2)
        except SdkTimeout:
            push = None
        if push is not None:
            say("push %s", json.dumps(push, sort_keys=True))
            action = push.get("Action")
            if action == "CreateGameSession":
                session = push.get("GameSessionId")
                if not a.no_activate:
                    try:
                        sdk.activate_game_session(session)
                        say("activated %s", session)
                        if a.end_after:
                            end_at = time.monotonic() + a.end_after
                    except SdkError as e:
                        say("ActivateGameSession failed: %s", e)
            elif action == "TerminateProcess":
                # Go's default when the game has no OnProcessTerminate: ProcessEnding, Destroy,
                # exit.
                ending("TerminateProcess")
                return 0
        if sdk.connected:
            lost_since = None
        else:
            # 1000/1001 from the service: the SDKs do not reconnect, the process is done.
            # Otherwise auto_reconnect is at work; give up after 5 minutes without a socket.
            conn = sdk.connection
            if conn is not None and conn.close_code in (1000, 1001):
                say("closed by the service (%s %s)", conn.close_code, conn.close_reason)
                sdk.close()
                return 1
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > 300:
                say("connection lost")
                sdk.close()
                return 1
        if end_at is not None and time.monotonic() >= end_at:
            ending("--end-after")
            return 0
        if session and not a.no_accept and time.monotonic() >= next_poll:
            next_poll = time.monotonic() + a.poll
            try:
                r = sdk.describe_player_sessions(GameSessionId=session,
                                                 PlayerSessionStatusFilter="RESERVED", timeout=5)
                for ps in r.get("PlayerSessions") or []:
                    psid = ps.get("PlayerSessionId")
                    if psid and psid not in accepted:
                        sdk.accept_player_session(session, psid, timeout=5)
                        accepted.add(psid)
                        say("accepted %s (player %s)", psid, ps.get("PlayerId"))
            except SdkError as e:
                say("player sessions: %s", e)
    ending("signal")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
