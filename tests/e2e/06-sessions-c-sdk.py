"""06 game sessions and player sessions with the C server SDK: examples/echo-server built ONLY
against the installed libhangar-server (`cmake --install` of the build dir that holds $HANGARD,
then the example's own Makefile with pkg-config), run as a real game server process. boto3
creates the Anywhere setup; the process goes ready, activates the game session it is given,
accepts and removes its players; SIGKILL ends its game session after the reconnect grace,
SIGTERM ends it at once through ProcessEnding. FlexMatch matches players onto it, backfills
automatically, or — with BACKFILL_CONFIG_ARN — when the example asks through
hangar_server_start_match_backfill / hangar_server_stop_match_backfill.

With an ASan build dir (HG_SANITIZE=ON, `make e2e-asan`) the installed SDK is instrumented, so
the example is compiled and linked with the same sanitizers and compiler; a leak or UB report
when it exits fails the SIGTERM test through its exit status."""

import json
import re
import signal
import socket
import time

import harness
from echoserver import EchoServer, echo_servers
from harness import fresh, wait_until

def setup(d, loc, fleet_name, compute="host-1"):
    c = d.client()
    try:
        c.create_location(LocationName=loc)
    except c.exceptions.ConflictException:
        pass
    fid = c.create_fleet(Name=fleet_name, ComputeType="ANYWHERE",
                         Locations=[{"Location": loc}])["FleetAttributes"]["FleetId"]
    comp = c.register_compute(FleetId=fid, ComputeName=compute, IpAddress="127.0.0.1",
                              Location=loc)["Compute"]
    ep = comp["GameLiftServiceSdkEndpoint"]
    assert ep.startswith("ws://127.0.0.1:%d/" % harness.client_port(c)), comp
    return c, fid, ep


def utilization(c, fid):
    return c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]


def start_ready(c, fid, ep, compute="host-1", env=None):
    """Starts the example and waits until the fleet counts its process as active."""
    srv = EchoServer(c, fid, compute, ep, env=env)
    wait_until(lambda: srv.dead() or utilization(c, fid)["ActiveServerProcessCount"] == 1,
               timeout=15, what="1 active server process")
    srv.wait_log(r"process_ready port=%d$" % srv.port)
    return srv


def game_session(c, fid, srv, loc, **kw):
    gs = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4, Location=loc,
                               **kw)["GameSession"]
    gsid = gs["GameSessionId"]
    assert gs["IpAddress"] == "127.0.0.1" and gs["Port"] == srv.port, gs

    def status():
        srv.dead()
        return c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]["Status"]
    # the example activates the session from its on_start_game_session callback
    wait_until(lambda: status() == "ACTIVE", timeout=10, what="game session ACTIVE")
    srv.wait_log(r"game_session_activated id=%s$" % re.escape(gsid))
    return gsid


def describe_gs(c, gsid):
    return c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]


def ps_status(c, psid):
    return c.describe_player_sessions(PlayerSessionId=psid)["PlayerSessions"][0]["Status"]


class Player:
    def __init__(self, ip, port, psid):
        self.s = socket.create_connection((ip, port), timeout=10)
        self.f = self.s.makefile("rwb")
        self.send(psid)
        self.hello = self.recv()

    def send(self, line):
        self.f.write((line + "\n").encode())
        self.f.flush()

    def recv(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\n")

    def close(self):
        self.f.close()
        self.s.close()


@fresh(args=["--sdk-reconnect-grace-s", "1"])
def test_echo_server_full_flow_then_sigkill(d):
    with echo_servers():
        loc = "custom-csdk-1"
        c, fid, ep = setup(d, loc, "c-sdk-flow")
        srv = start_ready(c, fid, ep)
        util = utilization(c, fid)
        assert util["ActiveGameSessionCount"] == 0, util
        assert srv.has(r"listening port=%d sdk_version=\d+\.\d+\.\d+" % srv.port), srv.output()
        # the process registered under the id given in GAMELIFT_SDK_PROCESS_ID
        mirror = wait_until(lambda: [s for s in harness.reg_list_all(d, kind="game")
                                     if s["metadata"].get("fleet_id") == fid],
                            what="the process in the registry")
        assert [s["metadata"].get("pid") for s in mirror] == [srv.process_id], mirror
        assert mirror[0]["port"] == srv.port, mirror

        gsid = game_session(c, fid, srv, loc, Name="c-sdk")
        assert utilization(c, fid)["ActiveGameSessionCount"] == 1

        ps = c.create_player_sessions(GameSessionId=gsid,
                                      PlayerIds=["alice", "bob"])["PlayerSessions"]
        assert [p["Status"] for p in ps] == ["RESERVED", "RESERVED"], ps
        alice, bob = ps[0]["PlayerSessionId"], ps[1]["PlayerSessionId"]
        assert ps[0]["IpAddress"] == "127.0.0.1" and ps[0]["Port"] == srv.port, ps

        # alice connects with her player session id: accepted, then her lines come back
        pa = Player(ps[0]["IpAddress"], ps[0]["Port"], alice)
        assert pa.hello == "OK " + alice, pa.hello
        for line in ("hello", "second line"):
            pa.send(line)
            assert pa.recv() == line
        assert ps_status(c, alice) == "ACTIVE"
        assert srv.has(r"player_accepted player_session_id=%s " % alice), srv.output()

        # her id a second time: refused by the service, the server hangs up
        again = Player("127.0.0.1", srv.port, alice)
        assert again.hello.startswith("ERR ") and "not RESERVED" in again.hello, again.hello
        assert again.recv() == "", "the server kept a rejected player connected"
        again.close()
        # a made-up id is refused too
        bogus = Player("127.0.0.1", srv.port, "psess-00000000-0000-0000-0000-000000000000")
        assert bogus.hello.startswith("ERR "), bogus.hello
        bogus.close()
        assert ps_status(c, alice) == "ACTIVE"  # still hers, still playing
        pa.send("still here")
        assert pa.recv() == "still here"

        # bob joins too and stays
        pb = Player("127.0.0.1", srv.port, bob)
        assert pb.hello == "OK " + bob, pb.hello
        got = c.describe_game_sessions(GameSessionId=gsid)["GameSessions"][0]
        assert got["CurrentPlayerSessionCount"] == 2, got

        # alice leaves: the example removes her player session
        pa.close()
        wait_until(lambda: ps_status(c, alice) == "COMPLETED", timeout=10,
                   what="alice's player session COMPLETED")
        srv.wait_log(r"player_removed player_session_id=%s reason=disconnected$" % alice)
        assert describe_gs(c, gsid)["CurrentPlayerSessionCount"] == 1
        assert ps_status(c, bob) == "ACTIVE"

        # kill -9: no ProcessEnding; after the reconnect grace (1 s) the process is gone
        assert srv.signal(signal.SIGKILL) == -signal.SIGKILL
        t0 = time.monotonic()
        wait_until(lambda: describe_gs(c, gsid)["Status"] == "TERMINATED", timeout=10,
                   what="the game session TERMINATED after the process was killed")
        got = describe_gs(c, gsid)
        assert "TerminationTime" in got, got
        assert time.monotonic() - t0 >= 0.5, "ended before the reconnect grace"
        assert ps_status(c, bob) == "COMPLETED"
        util = utilization(c, fid)
        assert util["ActiveServerProcessCount"] == 0 and util["ActiveGameSessionCount"] == 0, util
        assert not srv.has(r"level=error"), srv.output()
        pb.close()


def test_echo_server_sigterm_ends_at_once(d):
    with echo_servers():
        loc = "custom-csdk-2"
        c, fid, ep = setup(d, loc, "c-sdk-term")
        srv = start_ready(c, fid, ep)
        gsid = game_session(c, fid, srv, loc)
        ps = c.create_player_session(GameSessionId=gsid, PlayerId="carol")["PlayerSession"]
        pc = Player("127.0.0.1", srv.port, ps["PlayerSessionId"])
        assert pc.hello == "OK " + ps["PlayerSessionId"], pc.hello

        # SIGTERM: the example removes its player, calls ProcessEnding, frees the SDK, exits 0
        rc = srv.signal(signal.SIGTERM)
        assert rc == 0, "echo-server exited %s on SIGTERM" % rc
        assert srv.has(r"shutting_down reason=SIGTERM") and srv.has(r"\bbye$"), srv.output()
        assert srv.has(r"player_removed player_session_id=%s reason=shutdown$"
                       % ps["PlayerSessionId"]), srv.output()
        assert pc.recv() == "", "the player's connection outlived the server"
        pc.close()
        # the service knew before the process exited: no grace, no waiting
        got = describe_gs(c, gsid)
        assert got["Status"] == "TERMINATED" and "TerminationTime" in got, got
        assert ps_status(c, ps["PlayerSessionId"]) == "COMPLETED"
        util = utilization(c, fid)
        assert util["ActiveServerProcessCount"] == 0 and util["ActiveGameSessionCount"] == 0, util
        assert not srv.has(r"level=error"), srv.output()


TOKEN_TTL_S = 6


@fresh(args=["--compute-auth-token-ttl-s", str(TOKEN_TTL_S)])
def test_echo_server_survives_restarts_past_its_first_token(d):
    # A planned restart (SIGTERM) closes SDK sockets with 1012, a crash drops them: either way
    # the SDK reconnects to the URL it holds, whose token RefreshConnection handed it a third of
    # a lifetime before its first token expired.
    with echo_servers():
        loc = "custom-csdk-3"
        c, fid, ep = setup(d, loc, "c-sdk-restart")
        t0 = time.monotonic()
        srv = start_ready(c, fid, ep)
        gsid = game_session(c, fid, srv, loc)
        ps = c.create_player_session(GameSessionId=gsid, PlayerId="dave")["PlayerSession"]
        pd = Player("127.0.0.1", srv.port, ps["PlayerSessionId"])
        assert pd.hello == "OK " + ps["PlayerSessionId"], pd.hello
        srv.wait_log(r"refresh_connection endpoint=%s$" % re.escape(ep), timeout=TOKEN_TTL_S)
        assert time.monotonic() - t0 < TOKEN_TTL_S, "refreshed after the first token expired"
        time.sleep(max(0.0, t0 + TOKEN_TTL_S + 0.5 - time.monotonic()))  # the first expires

        players = ["dave"]
        for hard in (False, True):
            lost = len(re.findall(r"connection_lost ", srv.output()))
            d.restart(hard=hard)
            c = d.client()
            # wslay (under the C SDK) predates code 1012 and reports the close as 1006; either
            # way the SDK reconnects, where 1000/1001 would have ended it
            wait_until(lambda: len(re.findall(r"connection_lost code=(?:1012|1006) .*reconnecting",
                                              srv.output())) > lost, timeout=10,
                       what="the SDK to see the restart")
            wait_until(lambda: utilization(c, fid)["ActiveServerProcessCount"] == 1, timeout=15,
                       what="the process back after the restart (hard=%s)" % hard)
            assert describe_gs(c, gsid)["Status"] == "ACTIVE", describe_gs(c, gsid)
            assert ps_status(c, ps["PlayerSessionId"]) == "ACTIVE"
            pd.send("still playing")  # the game itself never stopped
            assert pd.recv() == "still playing"
            # and the process still takes players through the service
            name = "p%d" % len(players)
            new = c.create_player_session(GameSessionId=gsid, PlayerId=name)["PlayerSession"]
            pn = Player("127.0.0.1", srv.port, new["PlayerSessionId"])
            assert pn.hello == "OK " + new["PlayerSessionId"], (pn.hello, srv.output())
            assert ps_status(c, new["PlayerSessionId"]) == "ACTIVE"
            players.append(name)
            pn.close()  # it leaves; the example removes its player session
            srv.wait_log(r"player_removed player_session_id=%s reason=disconnected$"
                         % new["PlayerSessionId"])
        assert not srv.has(r"level=error"), srv.output()
        rc = srv.signal(signal.SIGTERM)
        assert rc == 0, "echo-server exited %s on SIGTERM" % rc
        pd.close()

DUEL = {"ruleLanguageVersion": "1.0",
        "teams": [{"name": "red", "maxPlayers": 1, "minPlayers": 1},
                  {"name": "blue", "maxPlayers": 1, "minPlayers": 1}]}


@fresh(args=["--matchmaker-batch-ms", "200"])
def test_echo_server_flexmatch_match_and_automatic_backfill(d):
    """FlexMatch WITH_QUEUE onto the C SDK's example: the game session it starts carries the
    MatchmakerData of alice and bob; bob hangs up (the example calls RemovePlayerSession), the
    configuration's automatic backfill matches carol into the same session, and the example
    receives UpdateGameSession MATCHMAKING_DATA_UPDATED with her in the MatchmakerData; she
    connects with the player session FlexMatch gave her."""
    with echo_servers():
        loc = "custom-csdk-fm"
        c, fid, ep = setup(d, loc, "c-sdk-fm")
        srv = start_ready(c, fid, ep)
        q = c.create_game_session_queue(Name="csdk-q", TimeoutInSeconds=30, Destinations=[
            {"DestinationArn": c.describe_fleet_attributes(FleetIds=[fid])[
                "FleetAttributes"][0]["FleetArn"]}])["GameSessionQueue"]
        c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
        c.create_matchmaking_configuration(
            Name="csdk", RuleSetName="duel", RequestTimeoutSeconds=60, AcceptanceRequired=False,
            GameSessionQueueArns=[q["GameSessionQueueArn"]], BackfillMode="AUTOMATIC")
        for tid, pid in (("ta", "alice"), ("tb", "bob")):
            c.start_matchmaking(TicketId=tid, ConfigurationName="csdk",
                                Players=[{"PlayerId": pid, "LatencyInMs": {loc: 20}}])

        def completed(ids):
            ts = c.describe_matchmaking(TicketIds=ids)["TicketList"]
            srv.dead()
            return len(ts) == len(ids) and all(t["Status"] == "COMPLETED" for t in ts) and ts
        ts = wait_until(lambda: completed(["ta", "tb"]), timeout=15, what="alice and bob matched")
        info = {t["TicketId"]: t["GameSessionConnectionInfo"] for t in ts}
        gsid = info["ta"]["GameSessionArn"]
        assert info["ta"]["Port"] == srv.port, info
        srv.wait_log(r"start_game_session id=%s .*matchmaker_data=.*\"alice\"" % re.escape(gsid))
        assert srv.has(r"matchmaker_data=.*\"bob\""), srv.output()
        srv.wait_log(r"game_session_activated id=%s$" % re.escape(gsid))
        pa = Player("127.0.0.1", srv.port, info["ta"]["MatchedPlayerSessions"][0]["PlayerSessionId"])
        pb = Player("127.0.0.1", srv.port, info["tb"]["MatchedPlayerSessions"][0]["PlayerSessionId"])
        assert pa.hello.startswith("OK ") and pb.hello.startswith("OK "), (pa.hello, pb.hello)

        pb.close()  # bob leaves: the example removes his player session
        srv.wait_log(r"player_removed")
        c.start_matchmaking(TicketId="tc", ConfigurationName="csdk",
                            Players=[{"PlayerId": "carol", "LatencyInMs": {loc: 30}}])
        tc = wait_until(lambda: completed(["tc"]), timeout=15, what="carol backfilled")[0]
        assert tc["GameSessionConnectionInfo"]["GameSessionArn"] == gsid, tc
        srv.wait_log(r"update_game_session id=%s reason=MATCHMAKING_DATA_UPDATED "
                     r"backfill_ticket=\S+ matchmaker_data=.*\"carol\"" % re.escape(gsid))
        pc = Player("127.0.0.1", srv.port,
                    tc["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]["PlayerSessionId"])
        assert pc.hello.startswith("OK "), pc.hello
        assert describe_gs(c, gsid)["CurrentPlayerSessionCount"] == 2
        pa.close()
        pc.close()


def flexmatch_setup(c, fid, name, backfill_mode):
    """A queue onto the fleet, the rule set "duel" and a configuration; returns its ARN."""
    q = c.create_game_session_queue(Name=name + "-q", TimeoutInSeconds=30, Destinations=[
        {"DestinationArn": c.describe_fleet_attributes(FleetIds=[fid])[
            "FleetAttributes"][0]["FleetArn"]}])["GameSessionQueue"]
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
    return c.create_matchmaking_configuration(
        Name=name, RuleSetName="duel", RequestTimeoutSeconds=60, AcceptanceRequired=False,
        GameSessionQueueArns=[q["GameSessionQueueArn"]],
        BackfillMode=backfill_mode)["Configuration"]["ConfigurationArn"]


def tickets(c, ids):
    return {t["TicketId"]: t for t in c.describe_matchmaking(TicketIds=ids)["TicketList"]}


def match_two(c, srv, config, loc):
    """alice and bob matched by FlexMatch onto srv and connected; returns (gsid, their teams,
    alice's and bob's Player)."""
    for tid, pid in (("ta", "alice"), ("tb", "bob")):
        c.start_matchmaking(TicketId=tid, ConfigurationName=config,
                            Players=[{"PlayerId": pid, "LatencyInMs": {loc: 20}}])

    def completed():
        srv.dead()
        ts = tickets(c, ["ta", "tb"])
        return all(t["Status"] == "COMPLETED" for t in ts.values()) and ts
    ts = wait_until(completed, timeout=15, what="alice and bob matched")
    gsid = ts["ta"]["GameSessionConnectionInfo"]["GameSessionArn"]
    srv.wait_log(r"game_session_activated id=%s$" % re.escape(gsid))
    md = json.loads(describe_gs(c, gsid)["MatchmakerData"])
    teams = {p["playerId"]: t["name"] for t in md["teams"] for p in t["players"]}
    assert sorted(teams) == ["alice", "bob"] and sorted(teams.values()) == ["blue", "red"], md
    conns = []
    for tid, pid in (("ta", "alice"), ("tb", "bob")):
        psid = ts[tid]["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]["PlayerSessionId"]
        p = Player("127.0.0.1", srv.port, psid)
        assert p.hello == "OK " + psid, p.hello
        # the example learnt the player id behind the session (DescribePlayerSessions)
        srv.wait_log(r"player_accepted player_session_id=%s fd=\d+ player_id=%s$" % (psid, pid))
        conns.append(p)
    return gsid, teams, conns[0], conns[1]


@fresh(args=["--matchmaker-batch-ms", "200"])
def test_echo_server_manual_backfill_through_the_c_sdk(d):
    """BackfillMode MANUAL: the game server asks. bob hangs up, the example calls
    hangar_server_start_match_backfill with alice on the team MatchmakerData gave her; carol's
    ticket is matched into the same game session, the example gets UpdateGameSession
    MATCHMAKING_DATA_UPDATED for its ticket, and that ticket is COMPLETED. Then carol and alice
    leave: the example starts one more backfill for alice alone, and once nobody is left stops it
    with hangar_server_stop_match_backfill (CANCELLED, pushed back as BACKFILL_CANCELLED)."""
    with echo_servers():
        loc = "custom-csdk-mbf"
        c, fid, ep = setup(d, loc, "c-sdk-mbf")
        arn = flexmatch_setup(c, fid, "csdk-manual", "MANUAL")
        srv = start_ready(c, fid, ep, env={"BACKFILL_CONFIG_ARN": arn})
        assert srv.has(r"listening port=%d .* backfill=%s$" % (srv.port, re.escape(arn)))
        gsid, teams, pa, pb = match_two(c, srv, "csdk-manual", loc)

        pb.close()  # bob leaves: RemovePlayerSession, then StartMatchBackfill through the C SDK
        srv.wait_log(r"backfill_started ticket=\S+ players=1$")
        bf = re.search(r"backfill_started ticket=(\S+) ", srv.output()).group(1)
        t = tickets(c, [bf])[bf]
        assert t["ConfigurationArn"] == arn and t["Status"] in ("QUEUED", "SEARCHING"), t
        assert [(p["PlayerId"], p.get("Team")) for p in t["Players"]] == [
            ("alice", teams["alice"])], t

        c.start_matchmaking(TicketId="tc", ConfigurationName="csdk-manual",
                            Players=[{"PlayerId": "carol", "LatencyInMs": {loc: 30}}])

        def done(ids):
            srv.dead()
            ts = tickets(c, ids)
            return all(t["Status"] == "COMPLETED" for t in ts.values()) and ts
        ts = wait_until(lambda: done(["tc", bf]), timeout=15, what="carol backfilled")
        info = ts["tc"]["GameSessionConnectionInfo"]
        assert info["GameSessionArn"] == gsid, ts
        assert ts[bf]["GameSessionConnectionInfo"]["GameSessionArn"] == gsid, ts
        srv.wait_log(r"update_game_session id=%s reason=MATCHMAKING_DATA_UPDATED "
                     r"backfill_ticket=%s matchmaker_data=.*\"carol\"" % (re.escape(gsid),
                                                                         re.escape(bf)))
        md = json.loads(describe_gs(c, gsid)["MatchmakerData"])
        now = {p["playerId"]: tm["name"] for tm in md["teams"] for p in tm["players"]}
        assert now == {"alice": teams["alice"], "carol": teams["bob"]}, md
        psid = info["MatchedPlayerSessions"][0]["PlayerSessionId"]
        pc = Player("127.0.0.1", srv.port, psid)
        assert pc.hello == "OK " + psid, pc.hello
        srv.wait_log(r"player_accepted player_session_id=%s fd=\d+ player_id=carol$" % psid)
        assert describe_gs(c, gsid)["CurrentPlayerSessionCount"] == 2

        # carol leaves: a new backfill for alice (carol's team read from the updated data)...
        pc.close()
        started = r"echo-server level=info backfill_started ticket=(\S+) players=1$"
        wait_until(lambda: len(re.findall(started, srv.output(), re.M)) == 2, timeout=10,
                   what="a second backfill")
        bf2 = re.findall(started, srv.output(), re.M)[-1]
        assert bf2 != bf and tickets(c, [bf2])[bf2]["Status"] in ("QUEUED", "SEARCHING")
        # ... and alice too: nobody left, the example stops the backfill it started
        pa.close()
        srv.wait_log(r"backfill_stopped ticket=%s$" % re.escape(bf2))
        assert tickets(c, [bf2])[bf2]["Status"] == "CANCELLED"
        srv.wait_log(r"update_game_session id=%s reason=BACKFILL_CANCELLED backfill_ticket=%s "
                     % (re.escape(gsid), re.escape(bf2)))
        assert not srv.has(r"level=error"), srv.output()
        assert srv.signal(signal.SIGTERM) == 0


@fresh(args=["--matchmaker-batch-ms", "200"])
def test_echo_server_backfill_arguments_refused_by_the_c_sdk(d):
    """The C SDK checks a backfill request before it sends it. The example is given the
    configuration's name where the official SDKs require its GameLift ARN: hangard would take a
    name, but hangar_server_start_match_backfill refuses it with HANGAR_SERVER_EINVAL naming the
    field, nothing reaches hangard (no backfill counted in /metrics), and the game goes on."""
    with echo_servers():
        loc = "custom-csdk-bfx"
        c, fid, ep = setup(d, loc, "c-sdk-bfx")
        flexmatch_setup(c, fid, "csdk-refused", "MANUAL")
        srv = start_ready(c, fid, ep, env={"BACKFILL_CONFIG_ARN": "csdk-refused"})
        gsid, _, pa, pb = match_two(c, srv, "csdk-refused", loc)
        pb.close()
        srv.wait_log(r"backfill_failed code=HANGAR_SERVER_EINVAL error=\"StartMatchBackfill: "
                     r"matchmaking_configuration_arn must be a GameLift ARN")
        text = d.http("GET", "/metrics").body.decode()
        assert 'hangar_matchmaking_backfills_total{status="STARTED"} 0' in text, text
        pa.send("still playing")
        assert pa.recv() == "still playing"
        assert describe_gs(c, gsid)["Status"] == "ACTIVE"
        pa.close()
        srv.wait_log(r"backfill_skipped reason=no_matched_player_connected$")
        assert srv.signal(signal.SIGTERM) == 0


harness.run()
