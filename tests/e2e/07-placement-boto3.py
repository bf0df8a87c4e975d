"""07 game session queues and placements (gamelift-wire.md section 5) with boto3: three ANYWHERE
fleets in three custom locations, one ready server process each (examples/echo-server, the C
example built against the installed libhangar-server, which activates every session it is
given), a queue Tokyo > Oregon > Seoul, and a lobby that holds a key allowed only the placement
and player-session calls."""

import socket
import time

import harness
from echoserver import EchoServer, echo_servers
from harness import expect_error, wait_until

LOCS = ["custom-tokyo", "custom-oregon", "custom-seoul"]
LOBBY_ACTIONS = ["gamelift:StartGameSessionPlacement", "gamelift:DescribeGameSessionPlacement",
                 "gamelift:StopGameSessionPlacement", "gamelift:DescribePlayerSessions",
                 "gamelift:CreatePlayerSession", "gamelift:CreatePlayerSessions",
                 "gamelift:DescribeGameSessionDetails"]


class World:
    """Three fleets (one per location), each with one compute; processes on demand."""

    def __init__(self, d, tag):
        self.d = d
        self.c = d.client()
        self.fleets = {}
        self.ep = None
        self.sdks = []
        for loc in LOCS:
            try:
                self.c.create_location(LocationName=loc)
            except self.c.exceptions.ConflictException:
                pass
            f = self.c.create_fleet(Name="%s-%s" % (tag, loc), ComputeType="ANYWHERE",
                                    Locations=[{"Location": loc}])["FleetAttributes"]
            comp = self.c.register_compute(FleetId=f["FleetId"], ComputeName="host",
                                           IpAddress="127.0.0.1", Location=loc)["Compute"]
            self.ep = comp["GameLiftServiceSdkEndpoint"]
            self.fleets[loc] = f

    def process(self, loc):
        """Starts examples/echo-server on the location's compute; returns it once ready."""
        fid = self.fleets[loc]["FleetId"]
        srv = EchoServer(self.c, fid, "host", self.ep)
        srv.wait_log(r"process_ready port=%d$" % srv.port, timeout=15)
        self.sdks.append(srv)
        return srv

    def queue(self, name, **kw):
        dests = [{"DestinationArn": self.fleets[loc]["FleetArn"]} for loc in LOCS]
        return self.c.create_game_session_queue(Name=name, Destinations=dests,
                                                **kw)["GameSessionQueue"]

    def close(self):
        for s in self.sdks:
            s.kill()


def wait_status(c, pid, status, timeout=10):
    box = {}

    def done():
        box["p"] = c.describe_game_session_placement(PlacementId=pid)["GameSessionPlacement"]
        return box["p"]["Status"] == status
    wait_until(done, timeout=timeout, what="placement %s %s" % (pid, status))
    return box["p"]


def latencies(players, ms_by_loc):
    return [{"PlayerId": p, "RegionIdentifier": loc, "LatencyInMilliseconds": ms}
            for p in players for loc, ms in ms_by_loc.items()]


def test_priority_and_latency(d):
    with echo_servers():
        _priority_and_latency(d)


def _priority_and_latency(d):
    w = World(d, "prio")
    srv = {loc: w.process(loc) for loc in LOCS}
    q = w.queue("region-asia", TimeoutInSeconds=30)
    assert q["TimeoutInSeconds"] == 30 and len(q["Destinations"]) == 3, q
    lobby = d.key_client(d.create_key("lobby", allow=LOBBY_ACTIONS))

    # no latencies: the queue's destination order — Tokyo
    out = lobby.start_game_session_placement(
        PlacementId="p-no-latency", GameSessionQueueName="region-asia",
        MaximumPlayerSessionCount=4, GameSessionName="m1",
        DesiredPlayerSessions=[{"PlayerId": "alice", "PlayerData": "a"}, {"PlayerId": "bob"}])
    assert out["GameSessionPlacement"]["Status"] in ("PENDING", "FULFILLED"), out
    p = wait_status(lobby, "p-no-latency", "FULFILLED")
    assert p["GameSessionRegion"] == "custom-tokyo", p
    assert p["GameSessionArn"] == p["GameSessionId"] and p["Port"] == srv["custom-tokyo"].port, p
    assert p["IpAddress"] == "127.0.0.1" and "EndTime" in p, p
    placed = {x["PlayerId"]: x["PlayerSessionId"] for x in p["PlacedPlayerSessions"]}
    assert set(placed) == {"alice", "bob"}, p
    # the session and its player sessions agree with the placement
    det = lobby.describe_game_session_details(GameSessionId=p["GameSessionId"])[
        "GameSessionDetails"][0]["GameSession"]
    assert det["Status"] == "ACTIVE" and det["Location"] == "custom-tokyo", det
    assert det["FleetId"] == w.fleets["custom-tokyo"]["FleetId"], det
    assert det["CurrentPlayerSessionCount"] == 2 and det["Name"] == "m1", det
    ps = lobby.describe_player_sessions(GameSessionId=p["GameSessionId"])["PlayerSessions"]
    assert {x["PlayerSessionId"]: x["Status"] for x in ps} == {
        placed["alice"]: "RESERVED", placed["bob"]: "RESERVED"}, ps
    # alice connects to the game server with her player session id: it accepts her
    s = socket.create_connection((p["IpAddress"], p["Port"]), timeout=5)
    f = s.makefile("rwb")
    f.write((placed["alice"] + "\n").encode())
    f.flush()
    assert f.readline().decode().strip() == "OK " + placed["alice"]
    wait_until(lambda: lobby.describe_player_sessions(PlayerSessionId=placed["alice"])[
        "PlayerSessions"][0]["Status"] == "ACTIVE", what="alice ACTIVE")
    s.close()

    # the same PlacementId again: the same placement, nothing new
    again = lobby.start_game_session_placement(
        PlacementId="p-no-latency", GameSessionQueueName="region-asia",
        MaximumPlayerSessionCount=4)["GameSessionPlacement"]
    assert again["GameSessionId"] == p["GameSessionId"] and again["Status"] == "FULFILLED"

    # latencies that favour Seoul (Tokyo is busy anyway, but Oregon is free and ranks second)
    lobby.start_game_session_placement(
        PlacementId="p-seoul", GameSessionQueueName="region-asia", MaximumPlayerSessionCount=4,
        PlayerLatencies=latencies(["carol", "dave"], {"custom-tokyo": 60, "custom-oregon": 150,
                                                      "custom-seoul": 20}))
    p = wait_status(lobby, "p-seoul", "FULFILLED")
    assert p["GameSessionRegion"] == "custom-seoul", p
    assert len(p["PlayerLatencies"]) == 6, p

    # the lobby's key may not manage fleets
    expect_error("UnauthorizedException", lobby.create_fleet, Name="nope",
                 ComputeType="ANYWHERE")
    expect_error("UnauthorizedException", lobby.create_game_session_queue, Name="nope")
    # the chosen destinations' ranks are counted: Tokyo was the first choice, Seoul too
    metrics = d.http("GET", "/metrics").body.decode()
    assert 'hangar_placement_choice_total{rank="0"} 2' in metrics, metrics
    assert 'hangar_placements_ended_total{status="FULFILLED"} 2' in metrics, metrics
    w.close()


def test_latency_policy_relaxes(d):
    w = World(d, "relax")
    w.process("custom-oregon")
    # at most 50 ms for the first 2 s, then no cap
    w.queue("relaxing", TimeoutInSeconds=20,
            PlayerLatencyPolicies=[{"MaximumIndividualPlayerLatencyMilliseconds": 50,
                                    "PolicyDurationSeconds": 2}])
    c = w.c
    start = time.time()
    c.start_game_session_placement(
        PlacementId="p-relax", GameSessionQueueName="relaxing", MaximumPlayerSessionCount=2,
        PlayerLatencies=latencies(["erin"], {"custom-oregon": 120}))
    time.sleep(1.0)
    p = c.describe_game_session_placement(PlacementId="p-relax")["GameSessionPlacement"]
    assert p["Status"] == "PENDING" and "GameSessionArn" not in p, p
    p = wait_status(c, "p-relax", "FULFILLED", timeout=10)
    assert time.time() - start >= 1.9, "placed before the latency policy relaxed"
    assert p["GameSessionRegion"] == "custom-oregon", p
    w.close()


def test_waits_for_capacity_then_times_out_or_is_stopped(d):
    w = World(d, "wait")
    w.queue("busy", TimeoutInSeconds=2)
    c = w.c
    c.start_game_session_placement(PlacementId="p-timeout", GameSessionQueueName="busy",
                                   MaximumPlayerSessionCount=2)
    p = c.describe_game_session_placement(PlacementId="p-timeout")["GameSessionPlacement"]
    assert p["Status"] == "PENDING", p
    p = wait_status(c, "p-timeout", "TIMED_OUT", timeout=6)
    assert "EndTime" in p and "GameSessionArn" not in p, p

    # stop a pending one
    c.start_game_session_placement(PlacementId="p-stop", GameSessionQueueName="busy",
                                   MaximumPlayerSessionCount=2)
    out = c.stop_game_session_placement(PlacementId="p-stop")["GameSessionPlacement"]
    assert out["Status"] == "CANCELLED" and "EndTime" in out, out
    expect_error("InvalidRequestException", c.stop_game_session_placement, PlacementId="p-stop")

    # capacity that appears later is used at once (no polling interval)
    w.queue("later", TimeoutInSeconds=30)
    c.start_game_session_placement(PlacementId="p-later", GameSessionQueueName="later",
                                   MaximumPlayerSessionCount=2)
    time.sleep(0.3)
    w.process("custom-seoul")
    t0 = time.time()  # the process is ready: the placement follows at once, not on a poll
    p = wait_status(c, "p-later", "FULFILLED", timeout=5)
    assert time.time() - t0 < 1, "placed late"
    assert p["GameSessionRegion"] == "custom-seoul", p
    w.close()


def test_placement_events_on_the_stream(d):
    w = World(d, "events")
    srv = w.process("custom-tokyo")
    w.queue("evq", TimeoutInSeconds=30, CustomEventData="team-blue")
    ws = harness.EventStream(d, "kind=placement")
    try:
        w.c.start_game_session_placement(PlacementId="p-ev", GameSessionQueueName="evq",
                                         MaximumPlayerSessionCount=2,
                                         DesiredPlayerSessions=[{"PlayerId": "zed"}])
        ev = ws.wait_for(lambda e: e.get("type", "").startswith("placement."), timeout=10,
                         what="a placement event")
        assert ev["type"] == "placement.fulfilled", ev
        pe = ev["placement"]
        assert pe["type"] == "PlacementFulfilled" and pe["placementId"] == "p-ev", pe
        assert pe["gameSessionRegion"] == "custom-tokyo" and pe["port"] == str(srv.port), pe
        assert pe["customEventData"] == "team-blue", pe
        assert [x["playerId"] for x in pe["placedPlayerSessions"]] == ["zed"], pe
    finally:
        ws.close()
    w.close()


@harness.fresh(args=["--notification-hosts", "127.0.0.1"])
def test_notification_target_webhook(d):
    hook = harness.WebhookSink(fail=1)  # the first delivery fails: hangard retries
    w = World(d, "hook")
    srv = w.process("custom-oregon")
    url = "http://127.0.0.1:%d/gamelift-events" % hook.port
    q = w.queue("hooked", TimeoutInSeconds=30, NotificationTarget=url, CustomEventData="blue")
    assert q["NotificationTarget"] == url, q
    expect_error("InvalidRequestException", w.c.create_game_session_queue, Name="other-host",
                 NotificationTarget="http://example.com/hook")
    w.c.start_game_session_placement(PlacementId="p-hook", GameSessionQueueName="hooked",
                                     MaximumPlayerSessionCount=2)
    wait_until(lambda: hook.got, timeout=10, what="the event POSTed to the queue's target")
    path, ctype, ev = hook.got[0]
    assert path == "/gamelift-events" and ctype.startswith("application/json"), (path, ctype)
    assert ev["detail-type"] == "GameLift Queue Placement Event", ev
    assert ev["source"] == "aws.gamelift" and ev["resources"] == [q["GameSessionQueueArn"]], ev
    det = ev["detail"]
    assert det["type"] == "PlacementFulfilled" and det["placementId"] == "p-hook", det
    assert det["gameSessionRegion"] == "custom-oregon" and det["port"] == str(srv.port), det
    assert det["customEventData"] == "blue", det
    assert det["startTime"].endswith("Z"), det
    hook.close()
    w.close()


def test_queue_crud_and_errors(d):
    w = World(d, "crud")
    c = w.c
    q = w.queue("crud-q", TimeoutInSeconds=60,
                PlayerLatencyPolicies=[{"MaximumIndividualPlayerLatencyMilliseconds": 100}],
                FilterConfiguration={"AllowedLocations": ["custom-tokyo"]},
                PriorityConfiguration={"PriorityOrder": ["LOCATION", "DESTINATION"],
                                       "LocationOrder": ["custom-seoul", "custom-tokyo"]})
    assert q["GameSessionQueueArn"].endswith(":gamesessionqueue/crud-q"), q
    arn = q["GameSessionQueueArn"]
    c.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "lobby"}])
    assert c.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team",
                                                                   "Value": "lobby"}]
    c.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert c.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    expect_error("InvalidRequestException", c.create_game_session_queue, Name="bad-prio",
                 PriorityConfiguration={"PriorityOrder": ["LOCATION"]})
    expect_error("InvalidRequestException", c.create_game_session_queue, Name="bad-dest",
                 Destinations=[{"DestinationArn": "arn:aws:gamelift:us-east-1::gamesession/x"}])
    got = c.describe_game_session_queues(Names=["crud-q"])["GameSessionQueues"]
    assert got == [q], got
    up = c.update_game_session_queue(Name=q["GameSessionQueueArn"], TimeoutInSeconds=90)
    assert up["GameSessionQueue"]["TimeoutInSeconds"] == 90, up
    assert up["GameSessionQueue"]["FilterConfiguration"] == q["FilterConfiguration"], up
    # the model's minimum of one location holds for SDKs that send an empty list
    r = d.raw("UpdateGameSessionQueue", {"Name": "crud-q",
                                         "FilterConfiguration": {"AllowedLocations": []}})
    assert r.status == 400 and r.json()["__type"] == "InvalidRequestException", r
    names = [x["Name"] for x in c.describe_game_session_queues()["GameSessionQueues"]]
    assert "crud-q" in names, names
    expect_error("InvalidRequestException", c.describe_game_session_queues, NextToken="q:x1")
    expect_error("NotFoundException", c.start_game_session_placement, PlacementId="p-x",
                 GameSessionQueueName="nope", MaximumPlayerSessionCount=2)
    expect_error("InvalidRequestException", c.start_game_session_placement, PlacementId="p-y",
                 GameSessionQueueName="crud-q", MaximumPlayerSessionCount=1,
                 DesiredPlayerSessions=[{"PlayerId": "a"}, {"PlayerId": "b"}])
    expect_error("NotFoundException", c.describe_game_session_placement, PlacementId="p-none")
    # deleting the queue fails what is pending on it
    c.start_game_session_placement(PlacementId="p-orphan", GameSessionQueueName="crud-q",
                                   MaximumPlayerSessionCount=2)
    c.delete_game_session_queue(Name="crud-q")
    p = c.describe_game_session_placement(PlacementId="p-orphan")["GameSessionPlacement"]
    assert p["Status"] == "FAILED", p
    expect_error("NotFoundException", c.delete_game_session_queue, Name="crud-q")
    w.close()


harness.run()
