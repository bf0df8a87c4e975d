"""03 FleetIQ through boto3: the game-server lifecycle end to end (a real TCP game server behind
ConnectionInfo), then claim, pagination, instances, suspend/resume, update, delete and health
semantics (gamelift-wire.md section 2)."""

import time

import harness
from harness import (ClientError, age_s, aws_error, expect_error, fresh, group_get, gs_claim,
                     gs_get, gs_ids, gs_update, register)


def test_issue_flow(d):
    c = d.client()
    echo = harness.EchoServer()
    try:
        # 1. create the group; it echoes the input and goes ACTIVE.
        g = harness.create_group(c, "flow", wait=False, BalancingStrategy="ON_DEMAND_ONLY",
                                 GameServerProtectionPolicy="FULL_PROTECTION",
                                 Tags=[{"Key": "team", "Value": "e2e"}])
        assert g["GameServerGroupName"] == "flow", g
        assert g["GameServerGroupArn"] == harness.group_arn("flow"), g["GameServerGroupArn"]
        assert g["RoleArn"] == harness.ROLE_ARN, g
        assert g["BalancingStrategy"] == "ON_DEMAND_ONLY", g
        assert g["GameServerProtectionPolicy"] == "FULL_PROTECTION", g
        types = [i["InstanceType"] for i in g["InstanceDefinitions"]]
        assert types == ["c5.large", "c5.xlarge"], g
        assert g["InstanceDefinitions"][1]["WeightedCapacity"] == "2", g
        assert g["Status"] in ("NEW", "ACTIVATING", "ACTIVE"), g["Status"]
        assert abs(age_s(g["CreationTime"])) < 60, g["CreationTime"]
        active = harness.wait_active(c, "flow")
        assert active["GameServerGroupArn"] == g["GameServerGroupArn"]

        # 2. no game servers yet.
        assert c.list_game_servers(GameServerGroupName="flow")["GameServers"] == []

        # 3. the game server registers with its address.
        gs = register(c, "flow", "flow-gs-1", inst=1, ConnectionInfo=echo.address,
                      GameServerData='{"map":"dust"}')
        assert gs["GameServerId"] == "flow-gs-1" and gs["GameServerGroupName"] == "flow", gs
        assert gs["GameServerGroupArn"] == harness.group_arn("flow"), gs
        assert gs["InstanceId"] == harness.instance_id(1), gs
        assert gs["ConnectionInfo"] == echo.address, gs
        assert gs["GameServerData"] == '{"map":"dust"}', gs
        assert gs["UtilizationStatus"] == "AVAILABLE", gs
        assert "ClaimStatus" not in gs and "LastClaimTime" not in gs, gs
        assert 0 <= age_s(gs["RegistrationTime"]) < 60, gs["RegistrationTime"]
        assert gs_ids(c, "flow") == ["flow-gs-1"]

        # 4. heartbeat: HEALTHY + AVAILABLE.
        before = gs.get("LastHealthCheckTime")
        time.sleep(0.05)
        up = gs_update(c, "flow", "flow-gs-1", HealthCheck="HEALTHY", UtilizationStatus="AVAILABLE")
        assert up["UtilizationStatus"] == "AVAILABLE", up
        assert 0 <= age_s(up["LastHealthCheckTime"]) < 60, up
        if before is not None:
            assert up["LastHealthCheckTime"] > before, (before, up["LastHealthCheckTime"])

        # 5. a client claims it and talks to the game server at ConnectionInfo.
        cl = gs_claim(c, "flow")
        assert cl["GameServerId"] == "flow-gs-1" and cl["ClaimStatus"] == "CLAIMED", cl
        assert 0 <= age_s(cl["LastClaimTime"]) < 60, cl
        assert cl["ConnectionInfo"] == echo.address, cl
        reply = harness.talk(cl["ConnectionInfo"], "hello from the lobby")
        assert reply == "echo: hello from the lobby\n", reply

        # 6. the game starts: UTILIZED.
        up = gs_update(c, "flow", "flow-gs-1", UtilizationStatus="UTILIZED")
        assert up["UtilizationStatus"] == "UTILIZED", up
        got = gs_get(c, "flow", "flow-gs-1")
        assert got["UtilizationStatus"] == "UTILIZED", got
        assert got["ConnectionInfo"] == echo.address, got

        # 7. the game ends: deregister.
        out = c.deregister_game_server(GameServerGroupName="flow", GameServerId="flow-gs-1")
        assert set(out) == {"ResponseMetadata"}, "DeregisterGameServer output not {}: %r" % out
        expect_error("NotFoundException", gs_get, c, "flow", "flow-gs-1")
        assert c.list_game_servers(GameServerGroupName="flow")["GameServers"] == []
    finally:
        echo.close()


def test_create_defaults_and_describe_by_arn(d):
    c = d.client()
    g = harness.create_group(c, "defaults")
    assert g["BalancingStrategy"] == "SPOT_PREFERRED", g
    assert g["GameServerProtectionPolicy"] == "NO_PROTECTION", g
    by_arn = group_get(c, harness.group_arn("defaults"))
    assert by_arn["GameServerGroupName"] == "defaults", by_arn
    # A group ARN also works as GameServerGroupName for game-server calls.
    gs = register(c, harness.group_arn("defaults"), "defaults-gs", inst=3)
    assert gs["GameServerGroupName"] == "defaults", gs


def test_duplicates_conflict(d):
    c = d.client()
    harness.create_group(c, "dup")
    expect_error("ConflictException", harness.create_group, c, "dup", wait=False)
    register(c, "dup", "dup-gs", inst=1, GameServerData="first")
    expect_error("ConflictException", register, c, "dup", "dup-gs", inst=2)
    got = gs_get(c, "dup", "dup-gs")
    assert got["InstanceId"] == harness.instance_id(1), got
    assert got["GameServerData"] == "first", got


def test_not_found(d):
    c = d.client()
    expect_error("NotFoundException", group_get, c, "nope")
    expect_error("NotFoundException", gs_claim, c, "nope")
    harness.create_group(c, "nf")
    expect_error("NotFoundException", gs_get, c, "nf", "nope")
    expect_error("NotFoundException", gs_update, c, "nf", "nope", HealthCheck="HEALTHY")
    expect_error("NotFoundException", gs_claim, c, "nf", GameServerId="nope")


def test_health_check_time(d):
    c = d.client()
    harness.create_group(c, "hc")
    register(c, "hc", "hc-gs", inst=1)
    first = gs_update(c, "hc", "hc-gs", HealthCheck="HEALTHY")["LastHealthCheckTime"]
    time.sleep(0.05)
    second = gs_update(c, "hc", "hc-gs", HealthCheck="HEALTHY")["LastHealthCheckTime"]
    assert second > first, "LastHealthCheckTime did not move: %s -> %s" % (first, second)
    # An update without HealthCheck leaves it alone but changes the data.
    time.sleep(0.05)
    third = gs_update(c, "hc", "hc-gs", GameServerData="round=2")
    assert third["LastHealthCheckTime"] == second, (second, third["LastHealthCheckTime"])
    assert third["GameServerData"] == "round=2", third


def test_claim_semantics(d):
    c = d.client()
    harness.create_group(c, "claim")
    register(c, "claim", "claim-a", inst=1, ConnectionInfo="10.0.0.1:7777")
    a = gs_claim(c, "claim", GameServerData="party=42")
    assert a["GameServerId"] == "claim-a" and a["ClaimStatus"] == "CLAIMED", a
    assert a["GameServerData"] == "party=42", "claim did not overwrite GameServerData: %r" % a
    assert gs_get(c, "claim", "claim-a")["ClaimStatus"] == "CLAIMED"
    # Nothing else is available.
    expect_error("OutOfCapacityException", gs_claim, c, "claim")
    # A specific claimed server cannot be claimed again.
    expect_error("ConflictException", gs_claim, c, "claim", GameServerId="claim-a")
    # A UTILIZED server is neither handed out nor claimable by id.
    register(c, "claim", "claim-u", inst=1)
    gs_update(c, "claim", "claim-u", UtilizationStatus="UTILIZED")
    expect_error("ConflictException", gs_claim, c, "claim", GameServerId="claim-u")
    expect_error("OutOfCapacityException", gs_claim, c, "claim")
    # A fresh AVAILABLE server is the one a claim picks.
    register(c, "claim", "claim-b", inst=2)
    b = gs_claim(c, "claim")
    assert b["GameServerId"] == "claim-b", b
    # A specific available server can be claimed by id; its neighbour stays unclaimed.
    register(c, "claim", "claim-c", inst=2)
    register(c, "claim", "claim-d", inst=2)
    cd = gs_claim(c, "claim", GameServerId="claim-d")
    assert cd["GameServerId"] == "claim-d" and cd["ClaimStatus"] == "CLAIMED", cd
    assert gs_get(c, "claim", "claim-c").get("ClaimStatus") is None


def test_utilized_to_available_rejected(d):
    c = d.client()
    harness.create_group(c, "util")
    register(c, "util", "util-gs", inst=1)
    gs_update(c, "util", "util-gs", UtilizationStatus="UTILIZED")
    expect_error("InvalidRequestException", gs_update, c, "util", "util-gs",
                 UtilizationStatus="AVAILABLE")
    assert gs_get(c, "util", "util-gs")["UtilizationStatus"] == "UTILIZED"


def test_list_game_servers_pagination_and_order(d):
    c = d.client()
    harness.create_group(c, "page")
    ids = ["page-gs-%d" % i for i in range(5)]
    for i, gid in enumerate(ids):
        register(c, "page", gid, inst=1 + i % 2)
        time.sleep(0.01)
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        out = c.list_game_servers(GameServerGroupName="page", Limit=2, SortOrder="ASCENDING", **kw)
        pages += 1
        assert len(out["GameServers"]) <= 2, out
        seen += [s["GameServerId"] for s in out["GameServers"]]
        token = out.get("NextToken")
        if not token:
            break
        assert pages < 10, "pagination does not end"
    assert seen == ids, "ASCENDING pages: %r" % seen
    assert pages == 3, "5 servers with Limit=2 took %d pages" % pages
    desc = c.list_game_servers(GameServerGroupName="page", SortOrder="DESCENDING")["GameServers"]
    assert [s["GameServerId"] for s in desc] == ids[::-1], desc
    times = [s["RegistrationTime"] for s in desc]
    assert times == sorted(times, reverse=True), times
    pages = c.get_paginator("list_game_servers").paginate(
        GameServerGroupName="page", SortOrder="DESCENDING", PaginationConfig={"PageSize": 2})
    got = [s["GameServerId"] for page in pages for s in page["GameServers"]]
    assert got == ids[::-1], "paginator: %r" % got
    assert sorted(gs_ids(c, "page")) == ids


def test_deregister(d):
    c = d.client()
    harness.create_group(c, "dereg")
    register(c, "dereg", "dereg-a", inst=1)
    register(c, "dereg", "dereg-b", inst=1)
    c.deregister_game_server(GameServerGroupName="dereg", GameServerId="dereg-a")
    assert gs_ids(c, "dereg") == ["dereg-b"]
    expect_error("NotFoundException", c.deregister_game_server, GameServerGroupName="dereg",
                 GameServerId="dereg-a")
    # The id is free again.
    again = register(c, "dereg", "dereg-a", inst=2)
    assert again["InstanceId"] == harness.instance_id(2), again


def test_describe_game_server_instances(d):
    c = d.client()
    harness.create_group(c, "inst")
    register(c, "inst", "inst-a", inst=11)
    register(c, "inst", "inst-b", inst=11)
    register(c, "inst", "inst-c", inst=12)
    both = [harness.instance_id(11), harness.instance_id(12)]
    out = c.describe_game_server_instances(GameServerGroupName="inst")["GameServerInstances"]
    assert sorted(i["InstanceId"] for i in out) == both, out
    for i in out:
        assert i["InstanceStatus"] == "ACTIVE" and i["GameServerGroupName"] == "inst", i
        assert i["GameServerGroupArn"] == harness.group_arn("inst"), i
    one = c.describe_game_server_instances(GameServerGroupName="inst",
                                           InstanceIds=[both[1]])["GameServerInstances"]
    assert [i["InstanceId"] for i in one] == [both[1]], one
    pages = c.get_paginator("describe_game_server_instances").paginate(
        GameServerGroupName="inst", PaginationConfig={"PageSize": 1})
    paged = [i["InstanceId"] for p in pages for i in p["GameServerInstances"]]
    assert sorted(paged) == both, paged
    expect_error("NotFoundException", c.describe_game_server_instances,
                 GameServerGroupName="inst-nope")


def test_suspend_resume(d):
    c = d.client()
    harness.create_group(c, "susp")
    g = c.suspend_game_server_group(GameServerGroupName="susp",
                                    SuspendActions=["REPLACE_INSTANCE_TYPES"])["GameServerGroup"]
    assert g.get("SuspendedActions") == ["REPLACE_INSTANCE_TYPES"], g
    assert group_get(c, "susp").get("SuspendedActions") == ["REPLACE_INSTANCE_TYPES"]
    g = c.resume_game_server_group(GameServerGroupName="susp",
                                   ResumeActions=["REPLACE_INSTANCE_TYPES"])["GameServerGroup"]
    assert not g.get("SuspendedActions"), g
    assert not group_get(c, "susp").get("SuspendedActions")


def test_update_group(d):
    c = d.client()
    g0 = harness.create_group(c, "upd")
    new_role = "arn:aws:iam::%s:role/hangar-e2e-2" % harness.ACCOUNT
    defs = [{"InstanceType": "m5.large", "WeightedCapacity": "1"},
            {"InstanceType": "m5.xlarge", "WeightedCapacity": "2"},
            {"InstanceType": "m5.2xlarge", "WeightedCapacity": "4"}]
    g = c.update_game_server_group(GameServerGroupName="upd", RoleArn=new_role,
                                   InstanceDefinitions=defs,
                                   GameServerProtectionPolicy="FULL_PROTECTION",
                                   BalancingStrategy="SPOT_ONLY")["GameServerGroup"]
    for got in (g, group_get(c, "upd")):
        assert got["RoleArn"] == new_role, got
        assert got["InstanceDefinitions"] == defs, got["InstanceDefinitions"]
        assert got["GameServerProtectionPolicy"] == "FULL_PROTECTION", got
        assert got["BalancingStrategy"] == "SPOT_ONLY", got
        assert got["CreationTime"] == g0["CreationTime"], got
        assert got["LastUpdatedTime"] >= g0["CreationTime"], got
    # Fields not in the update are untouched.
    g = c.update_game_server_group(GameServerGroupName="upd",
                                   BalancingStrategy="ON_DEMAND_ONLY")["GameServerGroup"]
    assert g["BalancingStrategy"] == "ON_DEMAND_ONLY" and g["RoleArn"] == new_role, g
    assert g["GameServerProtectionPolicy"] == "FULL_PROTECTION", g


def _gone(c, name):
    def check():
        try:
            g = group_get(c, name)
        except ClientError as e:
            assert aws_error(e)[0] == "NotFoundException", aws_error(e)
            return True
        assert g["Status"] in ("DELETE_SCHEDULED", "DELETING", "DELETED"), g["Status"]
        return False
    harness.wait_until(check, 10, what="group %s to be deleted" % name)
    names = [g["GameServerGroupName"] for g in c.list_game_server_groups()["GameServerGroups"]]
    assert name not in names, "deleted group %s still listed" % name


def test_delete_empty_group(d):
    c = d.client()
    harness.create_group(c, "del-empty")
    g = c.delete_game_server_group(GameServerGroupName="del-empty")["GameServerGroup"]
    assert g["Status"] == "DELETE_SCHEDULED" and g["GameServerGroupName"] == "del-empty", g
    _gone(c, "del-empty")


def test_safe_delete_keeps_utilized_server(d):
    c = d.client()
    harness.create_group(c, "del-safe")
    register(c, "del-safe", "del-safe-gs", inst=1)
    gs_update(c, "del-safe", "del-safe-gs", UtilizationStatus="UTILIZED")
    try:
        g = c.delete_game_server_group(GameServerGroupName="del-safe",
                                       DeleteOption="SAFE_DELETE")["GameServerGroup"]
        scheduled = True
        assert g["Status"] == "DELETE_SCHEDULED", g
    except ClientError as e:
        scheduled = False
        assert aws_error(e)[0] in ("InvalidRequestException", "ConflictException"), aws_error(e)
    # The UTILIZED server survives SAFE_DELETE, also a moment later.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert gs_get(c, "del-safe", "del-safe-gs")["UtilizationStatus"] == "UTILIZED"
        time.sleep(0.2)
    g = group_get(c, "del-safe")
    if scheduled:
        assert g["Status"] == "DELETE_SCHEDULED", g
        try:
            register(c, "del-safe", "del-safe-late", inst=2)
            raise AssertionError("a DELETE_SCHEDULED group accepted a new game server")
        except ClientError:
            pass
    else:
        assert g["Status"] == "ACTIVE", g
    # Once the game ends the group can go.
    c.deregister_game_server(GameServerGroupName="del-safe", GameServerId="del-safe-gs")
    if not scheduled:
        g = c.delete_game_server_group(GameServerGroupName="del-safe")["GameServerGroup"]
        assert g["Status"] == "DELETE_SCHEDULED", g
    _gone(c, "del-safe")


def test_force_delete(d):
    c = d.client()
    harness.create_group(c, "del-force")
    register(c, "del-force", "del-force-gs", inst=1)
    register(c, "del-force", "del-force-gs2", inst=1)
    gs_update(c, "del-force", "del-force-gs", UtilizationStatus="UTILIZED")
    g = c.delete_game_server_group(GameServerGroupName="del-force",
                                   DeleteOption="FORCE_DELETE")["GameServerGroup"]
    assert g["Status"] == "DELETE_SCHEDULED", g
    _gone(c, "del-force")
    expect_error("NotFoundException", gs_get, c, "del-force", "del-force-gs")
    # The name is free again, and the old servers did not come back with it.
    harness.create_group(c, "del-force")
    assert gs_ids(c, "del-force") == []
    register(c, "del-force", "del-force-gs", inst=2)


def test_list_game_server_groups_pagination(d):
    c = d.client()
    mine = ["lgg-%d" % i for i in range(3)]
    for n in mine:
        harness.create_group(c, n, wait=False)
    seen, token, pages = [], None, 0
    while True:
        out = c.list_game_server_groups(Limit=1, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(out["GameServerGroups"]) <= 1, out
        seen += [g["GameServerGroupName"] for g in out["GameServerGroups"]]
        token = out.get("NextToken")
        if not token:
            break
        assert pages < 100, "pagination does not end"
    assert len(seen) == len(set(seen)), "a group appeared twice: %r" % seen
    assert set(mine) <= set(seen), seen
    pages = c.get_paginator("list_game_server_groups").paginate(PaginationConfig={"PageSize": 2})
    names = [g["GameServerGroupName"] for p in pages for g in p["GameServerGroups"]]
    assert sorted(names) == sorted(seen), (names, seen)


def _no_nulls(v, path="$"):
    if v is None:
        raise AssertionError("null at %s (absent members must be omitted)" % path)
    if isinstance(v, dict):
        for k, x in v.items():
            _no_nulls(x, path + "." + k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _no_nulls(x, "%s[%d]" % (path, i))


def _is_epoch_now(t):
    return isinstance(t, (int, float)) and not isinstance(t, bool) and abs(time.time() - t) < 60


def test_raw_wire_format(d):
    c = d.client()
    harness.create_group(c, "raw")
    register(c, "raw", "raw-gs", inst=1)
    r = d.raw("DescribeGameServer", {"GameServerGroupName": "raw", "GameServerId": "raw-gs"})
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r.headers
    assert r.headers.get("x-amzn-requestid"), "no x-amzn-RequestId: %r" % r.headers
    assert r.headers.get("date"), "no Date header: %r" % r.headers
    gs = r.json()["GameServer"]
    _no_nulls(gs)
    assert "ClaimStatus" not in gs and "LastClaimTime" not in gs, gs
    assert _is_epoch_now(gs["RegistrationTime"]), "RegistrationTime on the wire: %r" % gs
    r = d.raw("DescribeGameServerGroup", {"GameServerGroupName": "raw"})
    g = r.json()["GameServerGroup"]
    _no_nulls(g)
    assert _is_epoch_now(g["CreationTime"]), "CreationTime on the wire: %r" % g
    # Two requests, two request ids.
    r2 = d.raw("DescribeGameServerGroup", {"GameServerGroupName": "raw"})
    assert r2.headers.get("x-amzn-requestid") != r.headers.get("x-amzn-requestid")
    # An error also carries a request id and a JSON message.
    r = d.raw("DescribeGameServerGroup", {"GameServerGroupName": "raw-nope"})
    assert r.status == 400 and r.json()["__type"] == "NotFoundException", r
    assert r.headers.get("x-amzn-requestid"), r.headers
    assert isinstance(r.json().get("message"), str) and r.json()["message"], r


@fresh(args=["--fleetiq-health-window-s", "2", "--fleetiq-deregister-after-s", "2"])
def test_silent_server_unclaimable_then_deregistered(d):
    c = d.client()
    harness.create_group(c, "health")
    t0 = time.monotonic()
    register(c, "health", "health-silent", inst=1)
    register(c, "health", "health-beating", inst=2)
    last_beat = 0.0

    def beat():
        nonlocal last_beat
        if time.monotonic() - last_beat >= 0.5:
            gs_update(c, "health", "health-beating", HealthCheck="HEALTHY")
            last_beat = time.monotonic()

    # Wait past the 2 s window, reporting health for one of the two servers only.
    while time.monotonic() - t0 < 3.0:
        beat()
        if time.monotonic() - t0 < 1.0:
            ids = gs_ids(c, "health")
            assert "health-silent" in ids, "deregistered before its window passed: %r" % ids
        time.sleep(0.1)
    got = gs_claim(c, "health")
    assert got["GameServerId"] == "health-beating", "claim handed out a stale server: %r" % got
    expect_error("OutOfCapacityException", gs_claim, c, "health")

    def silent_gone():
        beat()
        ids = gs_ids(c, "health")
        assert "health-beating" in ids, "the healthy server was deregistered: %r" % ids
        return "health-silent" not in ids
    harness.wait_until(silent_gone, timeout=10, what="the silent server to be deregistered")
    assert time.monotonic() - t0 >= 2.0, "deregistered sooner than the health window"
    expect_error("NotFoundException", gs_get, c, "health", "health-silent")


if __name__ == "__main__":
    harness.run()
