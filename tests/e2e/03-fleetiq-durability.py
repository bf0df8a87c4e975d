"""03 FleetIQ durability: what hangard acknowledged survives kill -9 and a SIGTERM restart on the
same data dir."""

import harness
from harness import expect_error, fresh, group_get, gs_claim, gs_get, gs_update, register


@fresh()
def test_kill9_keeps_acknowledged_claim(d):
    c = d.client()
    g = harness.create_group(c, "dur")
    register(c, "dur", "dur-gs", inst=1, ConnectionInfo="10.2.0.1:7777", GameServerData="v1")
    claimed = gs_claim(c, "dur")
    assert claimed["ClaimStatus"] == "CLAIMED", claimed
    d.restart(hard=True)
    c = d.client()
    got = gs_get(c, "dur", "dur-gs")
    assert got["ClaimStatus"] == "CLAIMED", "claim lost across kill -9: %r" % got
    assert got["UtilizationStatus"] == "AVAILABLE", got
    assert got["ConnectionInfo"] == "10.2.0.1:7777" and got["GameServerData"] == "v1", got
    assert got["LastClaimTime"] == claimed["LastClaimTime"], (claimed, got)
    assert got["RegistrationTime"] == claimed["RegistrationTime"], (claimed, got)
    # The claim still holds: nothing else to hand out, and not claimable by id.
    expect_error("OutOfCapacityException", gs_claim, c, "dur")
    expect_error("ConflictException", gs_claim, c, "dur", GameServerId="dur-gs")
    g2 = group_get(c, "dur")
    assert g2["Status"] == "ACTIVE" and g2["GameServerGroupArn"] == g["GameServerGroupArn"], g2
    assert g2["CreationTime"] == g["CreationTime"], (g["CreationTime"], g2["CreationTime"])
    # Still a working daemon afterwards: the id cannot be registered twice.
    expect_error("ConflictException", register, c, "dur", "dur-gs", inst=2)


@fresh()
def test_kill9_keeps_every_acknowledged_change(d):
    c = d.client()
    harness.create_group(c, "burst")
    ids = ["burst-%02d" % i for i in range(30)]
    for i, gid in enumerate(ids):
        register(c, "burst", gid, inst=1 + i % 3)
    for gid in ids[:10]:
        gs_update(c, "burst", gid, UtilizationStatus="UTILIZED")
    for gid in ids[10:15]:
        c.deregister_game_server(GameServerGroupName="burst", GameServerId=gid)
    gs_update(c, "burst", ids[29], GameServerData="last-write")
    d.restart(hard=True)  # immediately after the last acknowledgement
    c = d.client()
    pages = c.get_paginator("list_game_servers").paginate(GameServerGroupName="burst")
    servers = {s["GameServerId"]: s for p in pages for s in p["GameServers"]}
    want = ids[:10] + ids[15:]
    assert sorted(servers) == want, "after kill -9: %r" % sorted(servers)
    for gid in want:
        status = "UTILIZED" if gid in ids[:10] else "AVAILABLE"
        assert servers[gid]["UtilizationStatus"] == status, servers[gid]
    assert servers[ids[29]].get("GameServerData") == "last-write", servers[ids[29]]


@fresh()
def test_sigterm_restart_keeps_groups_and_servers(d):
    c = d.client()
    harness.create_group(c, "keep-a", BalancingStrategy="ON_DEMAND_ONLY")
    harness.create_group(c, "keep-b")
    c.suspend_game_server_group(GameServerGroupName="keep-b",
                                SuspendActions=["REPLACE_INSTANCE_TYPES"])
    register(c, "keep-a", "keep-a-1", inst=1, ConnectionInfo="10.3.0.1:1")
    register(c, "keep-a", "keep-a-2", inst=2)
    register(c, "keep-b", "keep-b-1", inst=3)
    gs_update(c, "keep-a", "keep-a-2", UtilizationStatus="UTILIZED")

    def servers(n):
        return c.list_game_servers(GameServerGroupName=n, SortOrder="ASCENDING")["GameServers"]
    before = {n: servers(n) for n in ("keep-a", "keep-b")}
    d.restart()
    c = d.client()
    groups = c.list_game_server_groups()["GameServerGroups"]
    assert sorted(g["GameServerGroupName"] for g in groups) == ["keep-a", "keep-b"], groups
    a = group_get(c, "keep-a")
    assert a["BalancingStrategy"] == "ON_DEMAND_ONLY" and a["Status"] == "ACTIVE", a
    assert group_get(c, "keep-b").get("SuspendedActions") == ["REPLACE_INSTANCE_TYPES"]
    for n in ("keep-a", "keep-b"):
        after = servers(n)
        assert after == before[n], "%s changed across restart:\n%r\n%r" % (n, before[n], after)
    # The restarted daemon keeps working on the restored state.
    assert gs_claim(c, "keep-a")["GameServerId"] == "keep-a-1"
    insts = c.describe_game_server_instances(GameServerGroupName="keep-a")["GameServerInstances"]
    assert sorted(i["InstanceId"] for i in insts) == [harness.instance_id(1),
                                                      harness.instance_id(2)], insts


if __name__ == "__main__":
    harness.run()
