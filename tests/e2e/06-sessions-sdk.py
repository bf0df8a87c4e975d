"""06 game sessions and player sessions with a real game server process on the Server SDK
WebSocket endpoint (gamelift-wire.md sections 4 and 7): boto3 creates the Anywhere setup, a
process written with tests/e2e/glsdk.py (an independent implementation of the SDKs' wire
protocol) connects and goes ready; CreateGameSession reaches it, it activates, players connect
to its TCP port with their player session ids and it accepts them."""

import re
import socket
import threading
import time

import glsdk
import harness
from harness import expect_error, fresh, wait_until

# Short timers so that timeouts can be watched in a test (defaults: docs/config.md).
FAST = ["--player-session-reservation-s", "2", "--sdk-reconnect-grace-s", "1",
        "--game-session-activation-timeout-s", "2", "--sdk-heartbeat-timeout-s", "3",
        "--sdk-process-ready-timeout-s", "2"]


def setup(d, loc="custom-sess-1", fleet_name="sess", computes=("host-1",), ip="127.0.0.1",
          **fleet_kw):
    c = d.client()
    try:
        c.create_location(LocationName=loc)
    except c.exceptions.ConflictException:
        pass
    fid = c.create_fleet(Name=fleet_name, ComputeType="ANYWHERE",
                         Locations=[{"Location": loc}], **fleet_kw)["FleetAttributes"]["FleetId"]
    ep = None
    for name in computes:
        comp = c.register_compute(FleetId=fid, ComputeName=name, IpAddress=ip,
                                  Location=loc)["Compute"]
        ep = comp["GameLiftServiceSdkEndpoint"]
    return c, fid, ep


def process(d, c, fid, ep, compute="host-1", port=None, pid=None, **kw):
    tok = c.get_compute_auth_token(FleetId=fid, ComputeName=compute)["AuthToken"]
    sdk = glsdk.ServerSdk(ep, fid, compute, process_id=pid, auth_token=tok, call_timeout=10, **kw)
    sdk.connect()
    if port is not None:
        sdk.process_ready(port, ["/local/game/logs"])
    return sdk


class EchoGame:
    """The game the process hosts: a TCP port where players send their player session id first,
    get OK/ERR, then an echo of every line."""

    def __init__(self):
        # ProcessReady takes ports 1..60000 only (as GameLift); the kernel's ephemeral range
        # reaches 60999, so a bound port above the limit is given back and another taken.
        for _ in range(100):
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            if self.sock.getsockname()[1] <= 60000:
                break
            self.sock.close()
        else:
            raise AssertionError("no free port <= 60000")
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sdk = None
        self.accepted = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._player, args=(conn,), daemon=True).start()

    def _player(self, conn):
        f = conn.makefile("rwb")
        psid = f.readline().decode().strip()
        try:
            self.sdk.accept_player_session(None, psid)
        except glsdk.SdkError as e:
            f.write(("ERR %s\n" % e.error_message).encode())
            f.flush()
            conn.close()
            return
        self.accepted.append(psid)
        f.write(("OK %s\n" % psid).encode())
        f.flush()
        for line in f:
            f.write(line)
            f.flush()
        conn.close()

    def close(self):
        self.sock.close()


def join(ip, port, psid):
    s = socket.create_connection((ip, port), timeout=5)
    f = s.makefile("rwb")
    f.write((psid + "\n").encode())
    f.flush()
    return s, f, f.readline().decode().strip()


def test_full_flow(d):
    c, fid, ep = setup(d)
    assert ep.startswith("ws://") and ep.endswith("/sdk"), ep
    game = EchoGame()
    sdk = process(d, c, fid, ep, port=game.port)
    game.sdk = sdk
    # the ready process counts as capacity
    cap = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert cap["ActiveServerProcessCount"] == 1 and cap["ActiveGameSessionCount"] == 0, cap

    gs = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4, Name="g1",
                               Location="custom-sess-1", CreatorId="lobby",
                               GameProperties=[{"Key": "mode", "Value": "ctf"}],
                               GameSessionData="seed=42")["GameSession"]
    assert gs["Status"] == "ACTIVATING", gs
    gsid = gs["GameSessionId"]
    assert gsid.startswith("arn:aws:gamelift:%s::gamesession/%s/custom-sess-1/gsess-"
                           % (harness.REGION, fid)), gsid
    assert gs["IpAddress"] == "127.0.0.1" and gs["Port"] == game.port, gs
    assert gs["GameProperties"] == [{"Key": "mode", "Value": "ctf"}], gs

    push = sdk.wait_push("CreateGameSession", timeout=5)
    assert push["GameSessionId"] == gsid and push["GameSessionName"] == "g1", push
    assert push["GameProperties"] == {"mode": "ctf"}, push
    assert push["MaximumPlayerSessionCount"] == 4 and push["Port"] == game.port, push
    assert push["GameSessionData"] == "seed=42", push
    assert sdk.violations == [], sdk.violations

    # players cannot join before the session is ACTIVE
    expect_error("InvalidGameSessionStatusException", c.create_player_session,
                 GameSessionId=gsid, PlayerId="early")
    sdk.activate_game_session()
    got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
    assert got["Status"] == "ACTIVE", got

    ps = c.create_player_sessions(GameSessionId=gsid, PlayerIds=["alice", "bob"],
                                  PlayerDataMap={"alice": "red"})["PlayerSessions"]
    assert [p["Status"] for p in ps] == ["RESERVED", "RESERVED"], ps
    assert ps[0]["PlayerData"] == "red" and "PlayerData" not in ps[1], ps
    assert ps[0]["IpAddress"] == "127.0.0.1" and ps[0]["Port"] == game.port, ps
    alice = ps[0]["PlayerSessionId"]
    assert alice.startswith("psess-"), alice

    # alice connects to the process with her id; the process accepts her
    s, f, hello = join(ps[0]["IpAddress"], ps[0]["Port"], alice)
    assert hello == "OK " + alice, hello
    f.write(b"hello\n")
    f.flush()
    assert f.readline() == b"hello\n"
    got = c.describe_player_sessions(PlayerSessionId=alice)["PlayerSessions"][0]
    assert got["Status"] == "ACTIVE", got
    # a second accept of the same id is refused by the service
    s2, f2, hello2 = join("127.0.0.1", game.port, alice)
    assert hello2.startswith("ERR ") and "not RESERVED" in hello2, hello2
    s2.close()
    # a made-up id is refused too
    s3, f3, hello3 = join("127.0.0.1", game.port, "psess-00000000-0000-0000-0000-000000000000")
    assert hello3.startswith("ERR "), hello3
    s3.close()

    det = c.describe_game_session_details(FleetId=fid)["GameSessionDetails"]
    assert len(det) == 1 and det[0]["ProtectionPolicy"] == "NoProtection", det
    assert det[0]["GameSession"]["CurrentPlayerSessionCount"] == 2, det
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveGameSessionCount"] == 1 and util["CurrentPlayerSessionCount"] == 2, util
    assert util["MaximumPlayerSessionCount"] == 4, util

    # the SDK's own view of the players
    mine = sdk.describe_player_sessions(GameSessionId=gsid)["PlayerSessions"]
    assert sorted(p["PlayerId"] for p in mine) == ["alice", "bob"], mine
    assert all(isinstance(p["CreationTime"], int) for p in mine), mine
    by_filter = sdk.describe_player_sessions(GameSessionId=gsid,
                                             PlayerSessionStatusFilter="ACTIVE")["PlayerSessions"]
    assert [p["PlayerId"] for p in by_filter] == ["alice"], by_filter

    # alice leaves: COMPLETED, slot freed
    sdk.remove_player_session(None, alice)
    got = c.describe_player_sessions(PlayerSessionId=alice)["PlayerSessions"][0]
    assert got["Status"] == "COMPLETED" and "TerminationTime" in got, got
    s.close()

    # DENY_ALL from the server blocks new reservations
    sdk.update_player_session_creation_policy(None, "DENY_ALL")
    expect_error("InvalidGameSessionStatusException", c.create_player_session,
                 GameSessionId=gsid, PlayerId="carol")
    sdk.update_player_session_creation_policy(None, "ACCEPT_ALL")
    # full: 4 slots, bob holds one
    c.create_player_sessions(GameSessionId=gsid, PlayerIds=["c1", "c2", "c3"])
    expect_error("GameSessionFullException", c.create_player_session, GameSessionId=gsid,
                 PlayerId="c4")

    # ProcessEnding: the session ends, its players complete, the process is gone
    sdk.process_ending()
    got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
    assert got["Status"] == "TERMINATED" and "TerminationTime" in got, got
    left = c.describe_player_sessions(GameSessionId=gsid)["PlayerSessions"]
    assert {p["Status"] for p in left} == {"COMPLETED"}, left
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveServerProcessCount"] == 0, util
    expect_error("FleetCapacityExceededException", c.create_game_session, FleetId=fid,
                 MaximumPlayerSessionCount=2)
    sdk.close(1000)
    game.close()


def test_idempotency_and_alias(d):
    c, fid, ep = setup(d, loc="custom-sess-2", fleet_name="idem")
    sdk = process(d, c, fid, ep, port=7001)
    alias = c.create_alias(Name="live", RoutingStrategy={"Type": "SIMPLE", "FleetId": fid})
    aid = alias["Alias"]["AliasId"]
    gs = c.create_game_session(AliasId=aid, MaximumPlayerSessionCount=2,
                               IdempotencyToken="match-0001")["GameSession"]
    assert gs["GameSessionId"].endswith("/custom-sess-2/match-0001"), gs
    again = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=2,
                                  IdempotencyToken="match-0001")["GameSession"]
    assert again["GameSessionId"] == gs["GameSessionId"], again
    expect_error("IdempotentParameterMismatchException", c.create_game_session, FleetId=fid,
                 MaximumPlayerSessionCount=3, IdempotencyToken="match-0001")
    # one push only
    sdk.wait_push("CreateGameSession", timeout=5)
    time.sleep(0.3)
    assert sdk.pending_pushes() == [], sdk.pending_pushes()
    term = c.create_alias(Name="closed", RoutingStrategy={"Type": "TERMINAL", "Message": "gone"})
    expect_error("TerminalRoutingStrategyException", c.create_game_session,
                 AliasId=term["Alias"]["AliasId"], MaximumPlayerSessionCount=2)
    sdk.process_ending()
    sdk.close(1000)


def test_errors(d):
    c, fid, ep = setup(d, loc="custom-sess-3", fleet_name="errs")
    expect_error("InvalidRequestException", c.create_game_session, MaximumPlayerSessionCount=2)
    expect_error("InvalidRequestException", c.create_game_session, FleetId=fid, AliasId="alias-x",
                 MaximumPlayerSessionCount=2)
    expect_error("NotFoundException", c.create_game_session, FleetId="fleet-nope",
                 MaximumPlayerSessionCount=2)
    expect_error("InvalidRequestException", c.create_game_session, FleetId=fid,
                 MaximumPlayerSessionCount=201)
    expect_error("InvalidRequestException", c.create_game_session, FleetId=fid,
                 MaximumPlayerSessionCount=2, Location="custom-not-mine")
    expect_error("FleetCapacityExceededException", c.create_game_session, FleetId=fid,
                 MaximumPlayerSessionCount=2)
    expect_error("NotFoundException", c.describe_game_sessions,
                 GameSessionId="arn:aws:gamelift:us-east-1::gamesession/fleet-x/l/none")
    expect_error("InvalidRequestException", c.describe_game_sessions, FleetId=fid,
                 StatusFilter="SLEEPING")
    expect_error("InvalidRequestException", c.describe_player_sessions)
    expect_error("InvalidRequestException", c.describe_player_sessions, PlayerId="a",
                 GameSessionId="b")
    expect_error("NotFoundException", c.describe_player_sessions, PlayerSessionId="psess-none")
    assert c.describe_player_sessions(PlayerId="nobody")["PlayerSessions"] == []
    expect_error("NotFoundException", c.create_player_session, GameSessionId="gs-none",
                 PlayerId="p")
    expect_error("NotFoundException", c.update_game_session, GameSessionId="gs-none", Name="x")
    expect_error("InvalidRequestException", c.search_game_sessions, FleetId=fid,
                 FilterExpression="playerSessionCount = 'x'")
    expect_error("InvalidRequestException", c.search_game_sessions, FleetId=fid,
                 SortExpression="nope ASC")
    # with a process: duplicate player ids, a deleted fleet
    sdk = process(d, c, fid, ep, port=7002)
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=5)["GameSession"][
        "GameSessionId"]
    sdk.wait_push("CreateGameSession", timeout=5)
    sdk.activate_game_session()
    expect_error("InvalidRequestException", c.create_player_sessions, GameSessionId=gsid,
                 PlayerIds=["a", "a"])
    expect_error("NotFoundException", c.get_game_session_log_url, GameSessionId=gsid)
    c.update_game_session(GameSessionId=gsid, Name="renamed", ProtectionPolicy="FullProtection",
                          MaximumPlayerSessionCount=6)
    det = c.describe_game_session_details(GameSessionId=gsid)["GameSessionDetails"][0]
    assert det["ProtectionPolicy"] == "FullProtection", det
    assert det["GameSession"]["Name"] == "renamed", det
    assert det["GameSession"]["MaximumPlayerSessionCount"] == 6, det
    # deleting the fleet deregisters the compute: the process goes, its session ends
    c.delete_fleet(FleetId=fid)
    code, _ = sdk.wait_closed(5)
    assert code == 1000, code
    got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
    assert got["Status"] == "TERMINATED", got
    expect_error("InvalidGameSessionStatusException", c.update_game_session, GameSessionId=gsid,
                 Name="late")


def test_search(d):
    c, fid, ep = setup(d, loc="custom-sess-4", fleet_name="search",
                       computes=["s1", "s2", "s3", "s4"])
    sdks = [process(d, c, fid, ep, compute="s%d" % i, port=7100 + i) for i in range(1, 5)]
    specs = [("alpha", "novice", 4), ("beta", "expert", 8), ("gamma", "novice", 2),
             ("delta", "expert", 6)]
    ids = {}
    for name, level, mx in specs:
        gs = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=mx, Name=name,
                                   GameProperties=[{"Key": "level", "Value": level}])
        ids[name] = gs["GameSession"]["GameSessionId"]
        time.sleep(0.01)
    for s in sdks:
        s.wait_push("CreateGameSession", timeout=5)
    # only ACTIVE sessions are found: activate three of four
    for s in sdks[:3]:
        s.activate_game_session()
    c.create_player_sessions(GameSessionId=ids["gamma"], PlayerIds=["x", "y"])

    def names(**kw):
        return [g["Name"] for g in c.search_game_sessions(FleetId=fid, **kw)["GameSessions"]]

    assert sorted(names()) == ["alpha", "beta", "gamma"]
    assert names(FilterExpression="gameSessionProperties.level = 'novice'",
                 SortExpression="gameSessionName DESC") == ["gamma", "alpha"]
    assert names(FilterExpression="hasAvailablePlayerSessions=true",
                 SortExpression="maximumSessions ASC") == ["alpha", "beta"]
    assert names(FilterExpression="maximumSessions >= 4 AND NOT gameSessionName = 'beta'") == \
        ["alpha"]
    assert names(FilterExpression="playerSessionCount > 0 OR gameSessionName = 'beta'",
                 SortExpression="creationTimeMillis ASC") == ["beta", "gamma"]
    # pages of at most Limit, tokens never repeat
    seen, token = [], None
    while True:
        kw = {"Limit": 1, "SortExpression": "gameSessionName ASC"}
        if token:
            kw["NextToken"] = token
        out = c.search_game_sessions(FleetId=fid, **kw)
        seen += [g["Name"] for g in out["GameSessions"]]
        token = out.get("NextToken")
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma"], seen
    # boto3's paginator walks it too (and would abort on a repeated token)
    pages = c.get_paginator("search_game_sessions").paginate(
        FleetId=fid, SortExpression="gameSessionName DESC", PaginationConfig={"PageSize": 2})
    assert [g["Name"] for p in pages for g in p["GameSessions"]] == ["gamma", "beta", "alpha"]
    for s in sdks:
        s.process_ending()
        s.close(1000)


@fresh(args=FAST)
def test_timers(d):
    c, fid, ep = setup(d, loc="custom-sess-5", fleet_name="timers", computes=["t1", "t2"])
    sdk = process(d, c, fid, ep, compute="t1", port=7201)
    # an unaccepted reservation times out and frees its slot
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=1)["GameSession"][
        "GameSessionId"]
    sdk.wait_push("CreateGameSession", timeout=5)
    sdk.activate_game_session()
    ps = c.create_player_session(GameSessionId=gsid, PlayerId="slow")["PlayerSession"]
    expect_error("GameSessionFullException", c.create_player_session, GameSessionId=gsid,
                 PlayerId="other")
    wait_until(lambda: c.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])[
        "PlayerSessions"][0]["Status"] == "TIMEDOUT", timeout=6, what="reservation timeout")
    c.create_player_session(GameSessionId=gsid, PlayerId="other")  # the slot is free again
    try:
        sdk.accept_player_session(gsid, ps["PlayerSessionId"])
        assert False, "accepting a TIMEDOUT player session must fail"
    except glsdk.SdkError as e:
        assert e.status_code == 400, e

    # a session that is never activated ends; the process can host the next one
    sdk2 = process(d, c, fid, ep, compute="t2", port=7202, heartbeat_interval=0.5)
    gs2 = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=1)["GameSession"]
    sdk2.wait_push("CreateGameSession", timeout=5)
    wait_until(lambda: c.describe_game_sessions(GameSessionId=gs2["GameSessionId"])[
        "GameSessions"][0]["Status"] == "TERMINATED", timeout=6, what="activation timeout")
    c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=1)
    sdk2.wait_push("CreateGameSession", timeout=5)

    # the first process stopped sending heartbeats: unhealthy, its session ends, it is told to
    # terminate
    push = sdk.wait_push("TerminateProcess", timeout=8)
    assert isinstance(push["TerminationTime"], int), push
    got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
    assert got["Status"] == "TERMINATED", got
    sdk.process_ending()
    sdk.close(1000)

    # a process that never calls ProcessReady is closed
    lazy = process(d, c, fid, ep, compute="t1")
    code, _ = lazy.wait_closed(6)
    assert code == 1000, code
    sdk2.close(1000)


@fresh(args=FAST)
def test_killed_process_ends_its_session(d):
    c, fid, ep = setup(d, loc="custom-sess-6", fleet_name="kill")
    sdk = process(d, c, fid, ep, port=7301, heartbeat_interval=0.5)
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=3)["GameSession"][
        "GameSessionId"]
    sdk.wait_push("CreateGameSession", timeout=5)
    sdk.activate_game_session()
    ps = c.create_player_session(GameSessionId=gsid, PlayerId="p1")["PlayerSession"]
    sdk.accept_player_session(gsid, ps["PlayerSessionId"])
    sdk.kill()  # TCP reset, no ProcessEnding: after the reconnect grace the process is gone
    wait_until(lambda: c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0][
        "Status"] == "TERMINATED", timeout=6, what="session ends with its process")
    got = c.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])["PlayerSessions"][0]
    assert got["Status"] == "COMPLETED", got
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveServerProcessCount"] == 0, util


def test_reconnect_keeps_process_active(d):
    c, fid, ep = setup(d, loc="custom-sess-7", fleet_name="reconnect")
    sdk = process(d, c, fid, ep, port=7401, pid="proc-reconnect-1", flavor="cpp")
    sdk.reconnect(new_token=True)  # the C++ SDK reconnects with a new IdempotencyToken
    # no ProcessReady again: the process is still ACTIVE and receives pushes on the new socket
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=2)["GameSession"][
        "GameSessionId"]
    push = sdk.wait_push("CreateGameSession", timeout=5)
    assert push["GameSessionId"] == gsid, push
    sdk.activate_game_session()
    # a request resent with the same RequestId is answered once, not applied twice
    ps = c.create_player_session(GameSessionId=gsid, PlayerId="dup")["PlayerSession"]
    p = sdk.send_request("AcceptPlayerSession", GameSessionId=gsid,
                         PlayerSessionId=ps["PlayerSessionId"])
    first = p.wait()
    assert first["StatusCode"] == 200, first
    sdk.resend(p)
    wait_until(lambda: len(p.replies) >= 2, timeout=5, what="the answer again")
    assert p.replies[1]["StatusCode"] == 200, p.replies  # the cached answer, not "not RESERVED"
    sdk.process_ending()
    sdk.close(1001)


def test_processes_are_registry_entries(d):
    c, fid, ep = setup(d, loc="custom-sess-10", fleet_name="mirror", ip="10.9.0.7")

    def mine():
        items = [s for s in harness.reg_list_all(d, kind="game")
                 if s["metadata"].get("fleet_id") == fid]
        return items[0] if items else None

    sdk = process(d, c, fid, ep, port=7701, pid="mirror-1")
    wait_until(lambda: mine() is not None, what="the process in the registry")
    s = mine()
    assert (s["source"], s["kind"], s["status"]) == ("sdk", "game", "available"), s
    assert (s["address"], s["port"], s["name"]) == ("10.9.0.7", 7701, "mirror-1"), s
    assert s["metadata"]["compute"] == "host-1" and s["metadata"]["pid"] == "mirror-1", s
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=2)["GameSession"][
        "GameSessionId"]
    s = mine()
    assert s["status"] == "hosting" and s["metadata"]["game_session_id"] == gsid, s
    sdk.process_ending()
    assert mine() is None, "an ended process stays in the registry"
    sdk.close(1000)
    # the compute is an entry too (kind "compute"), until it is deregistered
    comps = [s for s in harness.reg_list_all(d, kind="compute")
             if s["metadata"].get("fleet_id") == fid]
    assert len(comps) == 1, comps
    assert (comps[0]["name"], comps[0]["address"], comps[0]["source"]) == (
        "host-1", "10.9.0.7", "sdk"), comps
    c.deregister_compute(FleetId=fid, ComputeName="host-1")
    assert not [s for s in harness.reg_list_all(d, kind="compute")
                if s["metadata"].get("fleet_id") == fid]


@fresh()
def test_restart_keeps_sessions_and_processes(d):
    c, fid, ep = setup(d, loc="custom-sess-11", fleet_name="restart")
    sdk = process(d, c, fid, ep, port=7801, pid="survivor", auto_reconnect=True,
                  reconnect_delay=0.3, reconnect_attempts=40)
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=3,
                                 IdempotencyToken="restart-1")["GameSession"]["GameSessionId"]
    sdk.wait_push("CreateGameSession", timeout=5)
    sdk.activate_game_session()
    ps = c.create_player_sessions(GameSessionId=gsid, PlayerIds=["a", "b"])["PlayerSessions"]
    sdk.accept_player_session(gsid, ps[0]["PlayerSessionId"])
    d.restart(hard=True)  # kill -9: everything acknowledged must be there
    c = d.client()
    got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
    assert got["Status"] == "ACTIVE" and got["CurrentPlayerSessionCount"] == 2, got
    states = {p["PlayerId"]: p["Status"] for p in
              c.describe_player_sessions(GameSessionId=gsid)["PlayerSessions"]}
    assert states == {"a": "ACTIVE", "b": "RESERVED"}, states
    # the SDK reconnects by itself (abnormal close) without a new ProcessReady and goes on
    wait_until(lambda: sdk.reconnect_count >= 1, timeout=10, what="the SDK reconnects")
    sdk.accept_player_session(gsid, ps[1]["PlayerSessionId"])
    sdk.heartbeat(True)
    again = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=3,
                                  IdempotencyToken="restart-1")["GameSession"]
    assert again["GameSessionId"] == gsid, again
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveServerProcessCount"] == 1 and util["ActiveGameSessionCount"] == 1, util
    sdk.process_ending()
    sdk.close(1000)


def _activate_hosted(c, sdk, fid):
    """A game session on fid, hosted (pushed, activated) by sdk; returns its id."""
    gsid = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4)["GameSession"][
        "GameSessionId"]
    push = sdk.wait_push("CreateGameSession", timeout=5)
    assert push["GameSessionId"] == gsid, push
    sdk.activate_game_session(gsid)
    return gsid


def _accept_new_player(c, sdk, gsid, player):
    ps = c.create_player_session(GameSessionId=gsid, PlayerId=player)["PlayerSession"]
    sdk.accept_player_session(gsid, ps["PlayerSessionId"])
    got = c.describe_player_sessions(PlayerSessionId=ps["PlayerSessionId"])["PlayerSessions"][0]
    assert got["Status"] == "ACTIVE", got


@fresh()
def test_sigterm_restart_keeps_sessions(d):
    # A planned restart closes SDK sockets with 1012 "service restart": all three SDKs treat any
    # code but 1000/1001 as abnormal and reconnect; 1001 would have ended every game.
    c, fid, ep = setup(d, loc="custom-sess-12", fleet_name="sigterm", computes=["g1", "g2"])
    sdks = {flavor: process(d, c, fid, ep, compute=compute, port=port, pid="term-" + flavor,
                            flavor=flavor, auto_reconnect=True, reconnect_delay=0.3,
                            reconnect_attempts=40)
            for flavor, compute, port in (("go", "g1", 7901), ("cpp", "g2", 7902))}
    sessions = {}
    for flavor, sdk in sdks.items():
        sessions[flavor] = _activate_hosted(c, sdk, fid)
        _accept_new_player(c, sdk, sessions[flavor], "before-" + flavor)
    d.restart()  # SIGTERM, exit 0, start again
    c = d.client()
    for flavor, sdk in sdks.items():
        first = sdk.connections[0]
        wait_until(first.closed.is_set, timeout=5, what="the old socket closed")
        # 1012 from the owner, and from a standby relaying the socket too (it stops first)
        assert first.close_code == 1012, (flavor, first.close_code, first.close_reason,
                                          first.error)
        wait_until(lambda: sdk.reconnect_count >= 1 and sdk.connected, timeout=15,
                   what="%s reconnects after the restart" % flavor)
        got = c.describe_game_sessions(GameSessionId=sessions[flavor])["GameSessions"][0]
        assert got["Status"] == "ACTIVE", got
        _accept_new_player(c, sdk, sessions[flavor], "after-" + flavor)
        sdk.heartbeat(True)
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveServerProcessCount"] == 2 and util["ActiveGameSessionCount"] == 2, util
    for sdk in sdks.values():
        sdk.process_ending()
        sdk.close(1000)


TOKEN_TTL_S = 6


@fresh(args=["--compute-auth-token-ttl-s", str(TOKEN_TTL_S)])
def test_tokens_refreshed_and_expired_ones_come_back(d):
    c, fid, ep = setup(d, loc="custom-sess-13", fleet_name="tokens", computes=["t1", "t2"])
    t0 = time.monotonic()
    first_token = c.get_compute_auth_token(FleetId=fid, ComputeName="t1")["AuthToken"]
    # one process acts on RefreshConnection (as the SDKs do), one ignores it and keeps the URL
    # it started with, whose token then expires
    kw = dict(auth_token=first_token, call_timeout=10, auto_reconnect=True,
              reconnect_delay=0.3, reconnect_attempts=40)
    fresh_sdk = glsdk.ServerSdk(ep, fid, "t1", process_id="refreshes", **kw).connect()
    stale_sdk = glsdk.ServerSdk(ep, fid, "t1", process_id="stays", auto_refresh=False,
                                **kw).connect()
    fresh_sdk.process_ready(7911)
    stale_sdk.process_ready(7912)
    for _ in range(2):
        c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4)
    gs = {}  # each process hosts one of the two
    for sdk in (fresh_sdk, stale_sdk):
        push = sdk.wait_push("CreateGameSession", timeout=5)
        gs[sdk] = push["GameSessionId"]
        sdk.activate_game_session(push["GameSessionId"])
    # a third of the token's life before it expires, each process is handed a fresh one
    wait_until(lambda: fresh_sdk.refresh_count >= 1, timeout=TOKEN_TTL_S,
               what="the SDK acting on RefreshConnection")
    assert time.monotonic() - t0 < TOKEN_TTL_S, "refreshed only after the token expired"
    wait_until(lambda: [p for p in stale_sdk.pushes if p.get("Action") == "RefreshConnection"],
               timeout=TOKEN_TTL_S, what="RefreshConnection to the other process")
    pushed = [p for p in stale_sdk.pushes if p.get("Action") == "RefreshConnection"][0]
    assert pushed["RefreshConnectionEndpoint"] == ep, pushed
    assert pushed["AuthToken"] != first_token, pushed
    new_url = fresh_sdk.connection.url
    assert "Authorization=" + pushed["AuthToken"] in new_url, new_url
    _accept_new_player(c, fresh_sdk, gs[fresh_sdk], "on-the-new-socket")
    # the first token expires
    time.sleep(max(0.0, t0 + TOKEN_TTL_S + 0.5 - time.monotonic()))
    try:
        glsdk.ServerSdk(ep, fid, "t1", process_id="newcomer", auth_token=first_token).connect()
        raise AssertionError("an expired token connected a process it never connected before")
    except glsdk.SdkConnectError as e:
        assert e.http_status == 403, e
    # a restart: the refreshed process comes back with its new token, the other with the
    # expired one it started with (a known process within its grace)
    d.restart()
    c = d.client()
    for sdk in (fresh_sdk, stale_sdk):
        wait_until(lambda: sdk.reconnect_count >= 1 and sdk.connected, timeout=15,
                   what="%s reconnects after the restart" % sdk.process_id)
        got = c.describe_game_sessions(GameSessionId=gs[sdk])["GameSessions"][0]
        assert got["Status"] == "ACTIVE", got
        _accept_new_player(c, sdk, gs[sdk], "after-restart-" + sdk.process_id)
    assert "Authorization=" + first_token in stale_sdk.connection.url
    # a dropped socket (a network blip): back again with the expired token
    before = stale_sdk.reconnect_count
    stale_sdk.connection.ws.sock.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: stale_sdk.reconnect_count > before and stale_sdk.connected, timeout=15,
               what="the process reconnects after its socket dropped")
    _accept_new_player(c, stale_sdk, gs[stale_sdk], "after-the-drop")
    metrics = d.http("GET", "/metrics").body.decode()
    assert re.search(r"^hangar_sdk_refreshes_total [1-9]", metrics, re.M), metrics
    for sdk in (fresh_sdk, stale_sdk):
        sdk.process_ending()
        sdk.close(1000)


def test_sigv4_socket_auth(d):
    c, fid, ep = setup(d, loc="custom-sess-8", fleet_name="sigv4")
    key = d.create_key("gameserver", allow=["gamelift:ActivateServerProcess"])
    sdk = glsdk.ServerSdk(ep, fid, "host-1",
                          sigv4={"access_key": key["key_id"],
                                 "secret_key": key["secret"],
                                 "region": harness.REGION}, call_timeout=10)
    sdk.connect()
    sdk.process_ready(7501, [])
    sdk.process_ending()
    sdk.close(1000)
    # a key without the permission, a wrong secret, a bad token, no credentials at all
    other = d.create_key("lobby", allow=["gamelift:CreateGameSession"])
    for creds, status in (({"access_key": other["key_id"],
                            "secret_key": other["secret"]}, 403),
                          ({"access_key": key["key_id"], "secret_key": "x" * 40}, 403)):
        creds["region"] = harness.REGION
        bad = glsdk.ServerSdk(ep, fid, "host-1", sigv4=creds)
        try:
            bad.connect()
            assert False, "connected with bad credentials"
        except glsdk.SdkConnectError as e:
            assert e.http_status == status, (e, status)
    for tok, status in (("0" * 64, 403), (None, 401)):
        bad = glsdk.ServerSdk(ep, fid, "host-1", auth_token=tok)
        try:
            bad.connect()
            assert False, "connected with a bad token"
        except glsdk.SdkConnectError as e:
            assert e.http_status == status, (e, status)


def test_bad_frames_get_clear_errors(d):
    c, fid, ep = setup(d, loc="custom-sess-9", fleet_name="frames")
    sdk = process(d, c, fid, ep, strict=False)
    for fields, status, words in (
            ({"Port": 0}, 400, "Port"),
            ({"Port": "7777"}, 400, "Port"),
            ({"Port": 7777, "LogPaths": "nope"}, 400, "LogPaths")):
        try:
            sdk.request("ActivateServerProcess", **fields)
            assert False, fields
        except glsdk.SdkError as e:
            assert e.status_code == status and words in e.error_message, (fields, e)
    for action, fields in (("HeartbeatServerProcess", {"HealthStatus": True}),
                           ("ActivateGameSession", {"GameSessionId": "x"}),
                           ("NoSuchAction", {})):
        try:
            sdk.request(action, **fields)
            assert False, action
        except glsdk.SdkError as e:
            assert e.status_code == 400, (action, e)
    sdk.process_ready(7601, None)
    cert = sdk.get_compute_certificate()
    assert cert["ComputeName"] == "host-1", cert
    try:
        sdk.get_fleet_role_credentials("arn:aws:iam::123456789012:role/x", "s")
        assert False
    except glsdk.SdkError as e:
        assert e.status_code == 400, e
    sdk.send("not json")
    sdk.send('{"Action":"HeartbeatServerProcess"}')  # no RequestId
    sdk.heartbeat(True)  # the socket still works
    sdk.process_ending()
    sdk.close(1000)


harness.run()
