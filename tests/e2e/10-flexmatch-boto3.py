"""10 FlexMatch (gamelift-wire.md section 6) with boto3 against the real daemon: rule set
validation with its location, the AWS guide's skill-balanced two-team rule set with an expansion,
STANDALONE matches with teams, acceptance (accepted, rejected, timed out), StopMatchmaking,
RequestTimeoutSeconds, events on the stream (?kind=matchmaking) and POSTed to an http
NotificationTarget, WITH_QUEUE placed on an ANYWHERE fleet whose server process
(tests/e2e/glsdk.py) receives MatchmakerData, and tickets that survive kill -9 and resume their
search; the rule set and configuration calls (and a ticket's start, stop and describe) through
the AWS CLI. A batch runs every 200 ms (matchmaker-batch-ms)."""

import json

import glsdk
import harness
from harness import expect_error, wait_until

ARGS = ["--matchmaker-batch-ms", "200"]

# The AWS FlexMatch guide's "simple battle" example (two teams of 4, skill-balanced), with the
# expansion that widens the skill distance after 5 s.
AIM = {
    "name": "aliens_vs_cowboys",
    "ruleLanguageVersion": "1.0",
    "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
    "teams": [{"name": "cowboys", "maxPlayers": 4, "minPlayers": 4},
              {"name": "aliens", "maxPlayers": 4, "minPlayers": 4}],
    "rules": [{"name": "FairTeamSkill",
               "description": "The average skill of players in each team is within 10 points "
                              "from the average skill of all players in the match",
               "type": "distance",
               "measurements": ["avg(teams[*].players.attributes[skill])"],
               "referenceValue": "avg(flatten(teams[*].players.attributes[skill]))",
               "maxDistance": 10}],
    "expansions": [{"target": "rules[FairTeamSkill].maxDistance",
                    "steps": [{"waitTimeSeconds": 5, "value": 50}]}],
}
DUEL = {"ruleLanguageVersion": "1.0",
        "teams": [{"name": "red", "maxPlayers": 1, "minPlayers": 1},
                  {"name": "blue", "maxPlayers": 1, "minPlayers": 1}]}


def player(pid, skill=None, lat=None):
    p = {"PlayerId": pid}
    if skill is not None:
        p["PlayerAttributes"] = {"skill": {"N": skill}}
    if lat:
        p["LatencyInMs"] = lat
    return p


def tickets(c, ids):
    return {t["TicketId"]: t for t in c.describe_matchmaking(TicketIds=ids)["TicketList"]}


def anywhere_queue(c, loc, name):
    """An ANYWHERE fleet in location loc with one compute (host-1 on 127.0.0.1) and a game
    session queue <name>q onto it: (fleet attributes, compute, queue)."""
    c.create_location(LocationName=loc)
    fleet = c.create_fleet(Name=name, ComputeType="ANYWHERE",
                           Locations=[{"Location": loc}])["FleetAttributes"]
    comp = c.register_compute(FleetId=fleet["FleetId"], ComputeName="host-1",
                              IpAddress="127.0.0.1", Location=loc)["Compute"]
    q = c.create_game_session_queue(Name=name + "q", TimeoutInSeconds=30, Destinations=[
        {"DestinationArn": fleet["FleetArn"]}])["GameSessionQueue"]
    return fleet, comp, q


def wait_status(c, ids, status, timeout=10):
    box = {}

    def done():
        box["t"] = tickets(c, ids)
        return all(box["t"][i]["Status"] == status for i in ids)
    wait_until(done, timeout=timeout, interval=0.1, what="%s %s" % (ids, status))
    return box["t"]


@harness.fresh(args=ARGS)
def test_rule_sets_and_standalone_match(d):
    c = d.client()
    bad = dict(AIM, teams=[{"name": "cowboys", "maxPlayers": 4, "minPlayers": 4},
                           {"name": "aliens", "maxPlayers": 500, "minPlayers": 4}])
    msg, _ = expect_error("InvalidRequestException", c.validate_matchmaking_rule_set,
                          RuleSetBody=json.dumps(bad))
    assert "location: teams section: array index=1: maxPlayers" in msg, msg
    assert c.validate_matchmaking_rule_set(RuleSetBody=json.dumps(AIM))["Valid"] is True
    expect_error("InvalidRequestException", c.create_matchmaking_rule_set, Name="bad",
                 RuleSetBody=json.dumps(bad))
    rs = c.create_matchmaking_rule_set(Name="aim", RuleSetBody=json.dumps(AIM))["RuleSet"]
    assert rs["RuleSetArn"].endswith(":matchmakingruleset/aim"), rs
    assert json.loads(rs["RuleSetBody"]) == AIM and "CreationTime" in rs, rs
    got = c.describe_matchmaking_rule_sets(Names=["aim"])["RuleSets"]
    assert got == [rs], got
    expect_error("NotFoundException", c.describe_matchmaking_rule_sets, Names=["nope"])
    expect_error("NotFoundException", c.create_matchmaking_configuration, Name="x",
                 RuleSetName="nope", RequestTimeoutSeconds=10, AcceptanceRequired=False,
                 FlexMatchMode="STANDALONE")
    expect_error("InvalidRequestException", c.create_matchmaking_configuration, Name="x",
                 RuleSetName="aim", RequestTimeoutSeconds=10, AcceptanceRequired=False)
    cfg = c.create_matchmaking_configuration(
        Name="solo", RuleSetName=rs["RuleSetArn"], RequestTimeoutSeconds=60,
        AcceptanceRequired=False, FlexMatchMode="STANDALONE", CustomEventData="ce",
        Description="standalone battles")["Configuration"]
    assert cfg["ConfigurationArn"].endswith(":matchmakingconfiguration/solo"), cfg
    assert cfg["RuleSetName"] == "aim" and cfg["RuleSetArn"] == rs["RuleSetArn"], cfg
    expect_error("InvalidRequestException", c.delete_matchmaking_rule_set, Name="aim")
    # tags on both, through TagResource and friends, kept across a restart
    c.tag_resource(ResourceARN=rs["RuleSetArn"], Tags=[{"Key": "mode", "Value": "aim"}])
    c.tag_resource(ResourceARN=cfg["ConfigurationArn"],
                   Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    c.untag_resource(ResourceARN=cfg["ConfigurationArn"], TagKeys=["a"])
    expect_error("NotFoundException", c.list_tags_for_resource,
                 ResourceARN=cfg["ConfigurationArn"].replace("/solo", "/nope"))
    d.restart()
    c = d.client()
    assert c.list_tags_for_resource(ResourceARN=rs["RuleSetArn"])["Tags"] == [
        {"Key": "mode", "Value": "aim"}]
    assert c.list_tags_for_resource(ResourceARN=cfg["ConfigurationArn"])["Tags"] == [
        {"Key": "b", "Value": "2"}]
    # a paginated listing
    pages = list(c.get_paginator("describe_matchmaking_configurations").paginate(
        PaginationConfig={"PageSize": 1}))
    assert [x["Name"] for p in pages for x in p["Configurations"]] == ["solo"], pages
    for bad in ("mc:abc", "mc:-1", "mc:99999999999999999999999", "rs:1"):
        expect_error("InvalidRequestException", c.describe_matchmaking_configurations,
                     NextToken=bad)
    expect_error("InvalidRequestException", c.describe_matchmaking_rule_sets, NextToken="rs:1x")

    ws = harness.EventStream(d, "kind=matchmaking")
    try:
        ids = []
        for i in range(8):
            t = c.start_matchmaking(TicketId="t%d" % i, ConfigurationName="solo",
                                    Players=[player("p%d" % i, 10 + i)])["MatchmakingTicket"]
            assert t["Status"] == "QUEUED" and t["ConfigurationArn"] == cfg["ConfigurationArn"]
            # nothing matched on this configuration yet: no estimate, as GameLift without data
            assert "EstimatedWaitTime" not in t, t
            ids.append(t["TicketId"])
        got = wait_status(c, ids, "COMPLETED")
        teams = [got[i]["Players"][0]["Team"] for i in ids]
        assert sorted(teams) == ["aliens"] * 4 + ["cowboys"] * 4, teams
        assert all("EndTime" in got[i] for i in ids)
        ev = ws.wait_for(lambda e: e.get("type") == "matchmaking.succeeded", timeout=5,
                         what="MatchmakingSucceeded on the stream")
        det = ev["matchmaking"]
        assert det["type"] == "MatchmakingSucceeded" and det["customEventData"] == "ce", det
        assert sorted(t["ticketId"] for t in det["tickets"]) == sorted(ids), det
        assert len(det["gameSessionInfo"]["players"]) == 8, det
        seen = [e["type"] for e in ws.events]
        assert "matchmaking.searching" in seen and \
            "matchmaking.potential_match_created" in seen, seen
        first = next(e for e in ws.events if e.get("type") == "matchmaking.searching")
        assert first["matchmaking"]["estimatedWaitMillis"] == "NOT_AVAILABLE", first
        # a match was made: the next ticket gets the configuration's recent wait as an
        # estimate, in whole seconds here and in ms on its Searching event
        waited = max((got[i]["EndTime"] - got[i]["StartTime"]).total_seconds() for i in ids)
        late = c.start_matchmaking(TicketId="late", ConfigurationName="solo",
                                   Players=[player("late", 50)])["MatchmakingTicket"]
        assert 1 <= late["EstimatedWaitTime"] <= waited + 1, (late, waited)
        ev = ws.wait_for(lambda e: e.get("type") == "matchmaking.searching" and
                         e["matchmaking"]["tickets"][0]["ticketId"] == "late", timeout=5,
                         what="MatchmakingSearching of the late ticket")
        est = ev["matchmaking"]["estimatedWaitMillis"]
        assert isinstance(est, int) and 0 < est <= waited * 1000 + 1000, ev
        c.stop_matchmaking(TicketId="late")
    finally:
        ws.close()
    # the same TicketId again: the same ticket, nothing new
    again = c.start_matchmaking(TicketId="t0", ConfigurationName="solo",
                                Players=[player("p0", 10)])["MatchmakingTicket"]
    assert again["Status"] == "COMPLETED", again
    metrics = d.http("GET", "/metrics").body.decode()
    assert "hangar_matchmaking_matches_total 1" in metrics, metrics
    assert "hangar_matchmaking_time_to_match_seconds_count 8" in metrics, metrics


@harness.fresh(args=ARGS)
def test_acceptance_stop_and_timeouts(d):
    c = d.client()
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
    c.create_matchmaking_configuration(
        Name="acc", RuleSetName="duel", RequestTimeoutSeconds=60, AcceptanceRequired=True,
        AcceptanceTimeoutSeconds=2, FlexMatchMode="STANDALONE")
    # accepted by both
    c.start_matchmaking(TicketId="a", ConfigurationName="acc", Players=[player("pa")])
    c.start_matchmaking(TicketId="b", ConfigurationName="acc", Players=[player("pb")])
    wait_status(c, ["a", "b"], "REQUIRES_ACCEPTANCE")
    expect_error("InvalidRequestException", c.accept_match, TicketId="a", PlayerIds=["pb"],
                 AcceptanceType="ACCEPT")
    c.accept_match(TicketId="a", PlayerIds=["pa"], AcceptanceType="ACCEPT")
    c.accept_match(TicketId="b", PlayerIds=["pb"], AcceptanceType="ACCEPT")
    got = wait_status(c, ["a", "b"], "COMPLETED")
    assert {got["a"]["Players"][0]["Team"], got["b"]["Players"][0]["Team"]} == {"red", "blue"}
    # rejected: the rejecting ticket is CANCELLED, the other searches again
    c.start_matchmaking(TicketId="r1", ConfigurationName="acc", Players=[player("r1")])
    c.start_matchmaking(TicketId="r2", ConfigurationName="acc", Players=[player("r2")])
    wait_status(c, ["r1", "r2"], "REQUIRES_ACCEPTANCE")
    c.accept_match(TicketId="r2", PlayerIds=["r2"], AcceptanceType="ACCEPT")
    c.accept_match(TicketId="r1", PlayerIds=["r1"], AcceptanceType="REJECT")
    got = tickets(c, ["r1", "r2"])
    assert got["r1"]["Status"] == "CANCELLED" and got["r2"]["Status"] == "SEARCHING", got
    assert "Team" not in got["r2"]["Players"][0], got
    # timed out: r3 never answers and is CANCELLED; r2 accepted and searches again
    c.start_matchmaking(TicketId="r3", ConfigurationName="acc", Players=[player("r3")])
    wait_status(c, ["r2", "r3"], "REQUIRES_ACCEPTANCE")
    c.accept_match(TicketId="r2", PlayerIds=["r2"], AcceptanceType="ACCEPT")
    got = wait_status(c, ["r3"], "CANCELLED", timeout=5)
    assert tickets(c, ["r2"])["r2"]["Status"] == "SEARCHING"
    # StopMatchmaking: CANCELLED, {} again on a second stop; unknown → NotFound
    out = c.stop_matchmaking(TicketId="r2")
    assert set(out) == {"ResponseMetadata"}, out
    assert tickets(c, ["r2"])["r2"]["Status"] == "CANCELLED"
    c.stop_matchmaking(TicketId="r2")
    expect_error("NotFoundException", c.stop_matchmaking, TicketId="nope")
    expect_error("InvalidRequestException", c.stop_matchmaking, TicketId="a")
    # RequestTimeoutSeconds
    c.create_matchmaking_configuration(
        Name="short", RuleSetName="duel", RequestTimeoutSeconds=1, AcceptanceRequired=False,
        FlexMatchMode="STANDALONE")
    c.start_matchmaking(TicketId="lonely", ConfigurationName="short", Players=[player("l")])
    got = wait_status(c, ["lonely"], "TIMED_OUT", timeout=5)
    assert got["lonely"]["StatusReason"] == "TIMED_OUT" and "EndTime" in got["lonely"], got
    # UpdateMatchmakingConfiguration, DeleteMatchmakingConfiguration
    up = c.update_matchmaking_configuration(Name="short", RequestTimeoutSeconds=30)[
        "Configuration"]
    assert up["RequestTimeoutSeconds"] == 30 and up["FlexMatchMode"] == "STANDALONE", up
    c.delete_matchmaking_configuration(Name="short")
    expect_error("NotFoundException", c.delete_matchmaking_configuration, Name="short")
    expect_error("NotFoundException", c.start_matchmaking, ConfigurationName="short",
                 Players=[player("x")])


@harness.fresh(args=ARGS)
def test_with_queue_and_restart(d):
    c = d.client()
    loc = "custom-fm"
    fleet, comp, q = anywhere_queue(c, loc, "fm")
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
    cfg = c.create_matchmaking_configuration(
        Name="queued", RuleSetName="duel", RequestTimeoutSeconds=60, AcceptanceRequired=False,
        GameSessionQueueArns=[q["GameSessionQueueArn"]], GameSessionData="map=dust",
        GameProperties=[{"Key": "mode", "Value": "duel"}])["Configuration"]
    assert cfg["FlexMatchMode"] == "WITH_QUEUE", cfg
    tok = c.get_compute_auth_token(FleetId=fleet["FleetId"], ComputeName="host-1")["AuthToken"]
    sdk = glsdk.ServerSdk(comp["GameLiftServiceSdkEndpoint"], fleet["FleetId"], "host-1",
                          auth_token=tok, call_timeout=10)
    sdk.connect()
    sdk.process_ready(7777, ["/local/game/logs"])
    c.start_matchmaking(TicketId="q1", ConfigurationName="queued",
                        Players=[player("alice", lat={loc: 20})])
    c.start_matchmaking(TicketId="q2", ConfigurationName="queued",
                        Players=[player("bob", lat={loc: 30})])
    push = sdk.wait_push("CreateGameSession", timeout=10)
    gs = push.get("GameSession", push)
    md = json.loads(gs["MatchmakerData"])
    assert md["matchmakingConfigurationArn"] == cfg["ConfigurationArn"], md
    assert sorted(p["playerId"] for t in md["teams"] for p in t["players"]) == ["alice", "bob"]
    assert gs.get("GameSessionData") == "map=dust", gs
    assert tickets(c, ["q1"])["q1"]["Status"] == "PLACING"
    sdk.activate_game_session()
    got = wait_status(c, ["q1", "q2"], "COMPLETED")
    info = got["q1"]["GameSessionConnectionInfo"]
    assert info["IpAddress"] == "127.0.0.1" and info["Port"] == 7777, info
    assert [m["PlayerId"] for m in info["MatchedPlayerSessions"]] == ["alice"], info
    assert info["MatchedPlayerSessions"][0]["PlayerSessionId"].startswith("psess-"), info
    det = c.describe_game_session_details(GameSessionId=info["GameSessionArn"])[
        "GameSessionDetails"][0]["GameSession"]
    assert json.loads(det["MatchmakerData"])["matchId"] == md["matchId"], det
    sdk.close()

    # a ticket survives kill -9 and resumes its search
    c.start_matchmaking(TicketId="s1", ConfigurationName="queued", Players=[player("carol")])
    wait_status(c, ["s1"], "SEARCHING")
    d.restart(hard=True)
    c = d.client()
    assert tickets(c, ["s1"])["s1"]["Status"] == "SEARCHING"
    assert tickets(c, ["q1"])["q1"]["Status"] == "COMPLETED"
    c.stop_matchmaking(TicketId="s1")
    assert tickets(c, ["s1"])["s1"]["Status"] == "CANCELLED"


@harness.fresh(args=ARGS)
def test_backfill_after_a_player_leaves(d):
    """Automatic backfill: bob leaves a FlexMatch game session, carol's ticket is matched into it
    (a player session on the same session, UpdateGameSession with the new MatchmakerData); a
    manual StartMatchBackfill through the Server SDK on a full match fails (BACKFILL_FAILED);
    one through boto3 is refused for a team the rule set lacks and an unknown session, and in
    STANDALONE fills without a game session."""
    c = d.client()
    loc = "custom-bf"
    fleet, comp, q = anywhere_queue(c, loc, "bf")
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
    cfg = c.create_matchmaking_configuration(
        Name="auto", RuleSetName="duel", RequestTimeoutSeconds=60, AcceptanceRequired=False,
        GameSessionQueueArns=[q["GameSessionQueueArn"]], BackfillMode="AUTOMATIC")["Configuration"]
    assert cfg["BackfillMode"] == "AUTOMATIC", cfg
    tok = c.get_compute_auth_token(FleetId=fleet["FleetId"], ComputeName="host-1")["AuthToken"]
    sdk = glsdk.ServerSdk(comp["GameLiftServiceSdkEndpoint"], fleet["FleetId"], "host-1",
                          auth_token=tok, call_timeout=10)
    sdk.connect()
    sdk.process_ready(7777)
    c.start_matchmaking(TicketId="a", ConfigurationName="auto",
                        Players=[player("alice", 10, {loc: 20})])
    c.start_matchmaking(TicketId="b", ConfigurationName="auto",
                        Players=[player("bob", 20, {loc: 30})])
    push = sdk.wait_push("CreateGameSession", timeout=10)
    gs_arn = push["GameSessionId"]
    match_id = json.loads(push["MatchmakerData"])["matchId"]
    sdk.activate_game_session(gs_arn)
    got = wait_status(c, ["a", "b"], "COMPLETED")
    bob_ps = got["b"]["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]["PlayerSessionId"]
    alice_team = got["a"]["Players"][0]["Team"]

    # bob leaves: automatic backfill matches carol into the same game session
    sdk.remove_player_session(gs_arn, bob_ps)
    c.start_matchmaking(TicketId="c", ConfigurationName="auto",
                        Players=[player("carol", 15, {loc: 25})])
    upd = sdk.wait_push("UpdateGameSession", timeout=10)
    assert upd["UpdateReason"] == "MATCHMAKING_DATA_UPDATED", upd
    md = json.loads(upd["GameSession"]["MatchmakerData"])
    assert md["matchId"] == match_id, md
    teams = {p["playerId"]: t["name"] for t in md["teams"] for p in t["players"]}
    assert teams["alice"] == alice_team and set(teams) == {"alice", "carol"}, teams
    assert md["autoBackfillTicketId"] == upd["BackfillTicketId"], (md, upd)
    carol = wait_status(c, ["c"], "COMPLETED")["c"]
    info = carol["GameSessionConnectionInfo"]
    assert info["GameSessionArn"] == gs_arn and info["Port"] == 7777, info
    carol_ps = info["MatchedPlayerSessions"][0]["PlayerSessionId"]
    sdk.accept_player_session(gs_arn, carol_ps)
    bf = tickets(c, [upd["BackfillTicketId"]])[upd["BackfillTicketId"]]
    assert bf["Status"] == "COMPLETED", bf
    det = c.describe_game_session_details(GameSessionId=gs_arn)["GameSessionDetails"][0]
    assert json.loads(det["GameSession"]["MatchmakerData"]) == md, det
    assert det["GameSession"]["CurrentPlayerSessionCount"] == 2, det

    # a manual backfill of a full match fails, and the game server hears it
    ws_players = [glsdk.player("alice", team=alice_team, skill=10),
                  glsdk.player("carol", team=teams["carol"], skill=15)]
    tid = sdk.start_match_backfill(gs_arn, cfg["ConfigurationArn"], ws_players)["TicketId"]
    c.start_matchmaking(TicketId="e", ConfigurationName="auto",
                        Players=[player("erin", 15, {loc: 25})])
    upd = sdk.wait_push("UpdateGameSession", timeout=10)
    assert upd["UpdateReason"] == "BACKFILL_FAILED" and upd["BackfillTicketId"] == tid, upd
    failed = tickets(c, [tid])[tid]
    assert failed["Status"] == "FAILED" and "open player slot" in failed["StatusMessage"], failed

    # the API's StartMatchBackfill checks what it is given
    msg, _ = expect_error("InvalidRequestException", c.start_match_backfill,
                          ConfigurationName="auto", GameSessionArn=gs_arn,
                          Players=[{"PlayerId": "alice", "Team": "green"}])
    assert "green" in msg, msg
    expect_error("NotFoundException", c.start_match_backfill, ConfigurationName="auto",
                 GameSessionArn=gs_arn + "x", Players=[{"PlayerId": "alice", "Team": "red"}])
    # a manual one stopped through the SDK: BACKFILL_CANCELLED
    t2 = c.start_match_backfill(ConfigurationName="auto", GameSessionArn=gs_arn,
                                Players=[{"PlayerId": "alice", "Team": alice_team}])
    t2 = t2["MatchmakingTicket"]["TicketId"]
    sdk.stop_match_backfill(gs_arn, cfg["ConfigurationArn"], t2)
    upd = sdk.wait_push("UpdateGameSession", timeout=10)
    assert upd["UpdateReason"] == "BACKFILL_CANCELLED" and upd["BackfillTicketId"] == t2, upd
    assert tickets(c, [t2])[t2]["Status"] == "CANCELLED"
    sdk.close()

    # STANDALONE: no game session; the new player joins the given teams
    c.create_matchmaking_configuration(Name="solo", RuleSetName="duel", RequestTimeoutSeconds=60,
                                       AcceptanceRequired=False, FlexMatchMode="STANDALONE")
    bt = c.start_match_backfill(TicketId="sbf", ConfigurationName="solo",
                                Players=[{"PlayerId": "zed", "Team": "red"}])
    assert bt["MatchmakingTicket"]["Status"] == "QUEUED", bt
    c.start_matchmaking(TicketId="y", ConfigurationName="solo", Players=[player("yan", 3)])
    got = wait_status(c, ["sbf", "y"], "COMPLETED")
    assert got["y"]["Players"][0]["Team"] == "blue", got


@harness.fresh(args=ARGS + ["--notification-hosts", "127.0.0.1"])
def test_notification_target_webhook(d):
    hook = harness.WebhookSink()
    c = d.client()
    c.create_matchmaking_rule_set(Name="duel", RuleSetBody=json.dumps(DUEL))
    url = "http://127.0.0.1:%d/fm-events" % hook.port
    expect_error("InvalidRequestException", c.create_matchmaking_configuration, Name="elsewhere",
                 RuleSetName="duel", RequestTimeoutSeconds=10, AcceptanceRequired=False,
                 FlexMatchMode="STANDALONE", NotificationTarget="http://example.com/hook")
    cfg = c.create_matchmaking_configuration(
        Name="hooked", RuleSetName="duel", RequestTimeoutSeconds=10, AcceptanceRequired=False,
        FlexMatchMode="STANDALONE", NotificationTarget=url, CustomEventData="blue")[
        "Configuration"]
    assert cfg["NotificationTarget"] == url, cfg
    c.start_matchmaking(TicketId="h1", ConfigurationName="hooked", Players=[player("h1")])
    c.start_matchmaking(TicketId="h2", ConfigurationName="hooked", Players=[player("h2")])
    wait_until(lambda: any(x[0] == "bad json" or x[2]["detail"]["type"] == "MatchmakingSucceeded"
                           for x in hook.got),
               timeout=10, what="MatchmakingSucceeded POSTed")
    assert not [x for x in hook.got if x[0] == "bad json"], hook.got
    path, _, ev = [x for x in hook.got if x[2]["detail"]["type"] == "MatchmakingSucceeded"][0]
    assert path == "/fm-events" and ev["detail-type"] == "GameLift Matchmaking Event", ev
    assert ev["source"] == "aws.gamelift" and ev["resources"] == [cfg["ConfigurationArn"]], ev
    det = ev["detail"]
    assert sorted(t["ticketId"] for t in det["tickets"]) == ["h1", "h2"], det
    assert det["customEventData"] == "blue" and det["tickets"][0]["startTime"].endswith("Z"), det
    types = [x[2]["detail"]["type"] for x in hook.got]
    assert "MatchmakingSearching" in types and "PotentialMatchCreated" in types, types
    hook.close()


@harness.fresh(args=ARGS)
def test_rule_set_and_configuration_calls_through_the_aws_cli(d):
    cli = lambda *args: harness.aws_cli(d, *args)  # noqa: E731
    body = json.dumps(AIM)
    rc, out, err = cli("validate-matchmaking-rule-set", "--rule-set-body", body)
    assert rc == 0 and out == {"Valid": True}, (rc, out, err)
    bad = dict(AIM, teams=[{"name": "cowboys", "maxPlayers": 4, "minPlayers": 4},
                           {"name": "aliens", "maxPlayers": "four", "minPlayers": 4}])
    rc, out, err = cli("validate-matchmaking-rule-set", "--rule-set-body", json.dumps(bad))
    assert rc != 0 and "InvalidRequestException" in err and "location" in err, (rc, out, err)
    rc, out, err = cli("create-matchmaking-rule-set", "--name", "aim", "--rule-set-body", body)
    assert rc == 0 and out["RuleSet"]["RuleSetName"] == "aim", (rc, out, err)
    arn = out["RuleSet"]["RuleSetArn"]
    assert arn.startswith("arn:aws:gamelift:") and arn.endswith("matchmakingruleset/aim"), arn
    rc, out, err = cli("describe-matchmaking-rule-sets", "--names", "aim")
    assert rc == 0 and [r["RuleSetName"] for r in out["RuleSets"]] == ["aim"], (rc, out, err)
    rc, out, err = cli("create-matchmaking-configuration", "--name", "aim-cfg",
                       "--rule-set-name", "aim", "--request-timeout-seconds", "60",
                       "--no-acceptance-required", "--flex-match-mode", "STANDALONE")
    assert rc == 0 and out["Configuration"]["Name"] == "aim-cfg", (rc, out, err)
    assert out["Configuration"]["RuleSetName"] == "aim", out
    rc, out, err = cli("update-matchmaking-configuration", "--name", "aim-cfg",
                       "--request-timeout-seconds", "120")
    assert rc == 0 and out["Configuration"]["RequestTimeoutSeconds"] == 120, (rc, out, err)
    rc, out, err = cli("describe-matchmaking-configurations", "--names", "aim-cfg")
    assert rc == 0 and out["Configurations"][0]["RequestTimeoutSeconds"] == 120, (rc, out, err)
    rc, out, err = cli("start-matchmaking", "--configuration-name", "aim-cfg", "--players",
                       "PlayerId=p1,PlayerAttributes={skill={N=10}}")
    assert rc == 0 and out["MatchmakingTicket"]["Status"] in ("QUEUED", "SEARCHING"), (rc, out, err)
    tid = out["MatchmakingTicket"]["TicketId"]
    rc, out, err = cli("stop-matchmaking", "--ticket-id", tid)
    assert rc == 0, (rc, out, err)
    rc, out, err = cli("describe-matchmaking", "--ticket-ids", tid)
    assert rc == 0 and out["TicketList"][0]["Status"] == "CANCELLED", (rc, out, err)
    # a rule set in use cannot go: the configuration first, then the rule set
    rc, out, err = cli("delete-matchmaking-rule-set", "--name", "aim")
    assert rc != 0, (rc, out, err)
    rc, out, err = cli("delete-matchmaking-configuration", "--name", "aim-cfg")
    assert rc == 0, (rc, out, err)
    rc, out, err = cli("delete-matchmaking-rule-set", "--name", "aim")
    assert rc == 0, (rc, out, err)
    rc, out, err = cli("describe-matchmaking-configurations", "--names", "aim-cfg")
    assert rc == 0 and out["Configurations"] == [], (rc, out, err)


harness.run()
