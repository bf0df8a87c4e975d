"""03 FleetIQ durability: what hangard acknowledged survives kill -9 and a SIGTERM restart on the
same data dir."""

import harness
from harness import expect_error, fresh, register


@fresh()
def test_kill9_keeps_acknowledged_claim(d):
    c = d.client()
    g = harness.create_group(c, "dur")
    register(c, "dur", "dur-gs", inst=1, ConnectionInfo="10.2.0.1:7777", GameServerData="v1")
    claimed = c.claim_game_server(GameServerGroupName="dur")["GameServer"]
    assert claimed["ClaimStatus"] == "CLAIMED", claimed
    d.restart(hard=True)
    c = d.client()
    got = c.describe_game_server(GameServerGroupName="dur", GameServerId="dur-gs")["GameServer"]
    assert got["ClaimStatus"] == "CLAIMED", "claim lost across kill -9: %r" % got
    assert got["UtilizationStatus"] == "AVAILABLE", got
    assert got["ConnectionInfo"] == "10.2.0.1:7777" and got["GameServerData"] == "v1", got
    assert got["LastClaimTime"] == claimed["LastClaimTime"], (claimed["LastClaimTime"], got["LastClaimTime"])
    assert got["RegistrationTime"] == claimed["RegistrationTime"], got
    # The claim still holds: nothing else to hand out, and not claimable by id.
    expect_error("OutOfCapacityException", c.claim_game_server, GameServerGroupName="dur")
    expect_error("ConflictException", c.claim_game_server, GameServerGroupName="dur", GameServerId="dur-gs")
    g2 = c.describe_game_server_group(GameServerGroupName="dur")["GameServerGroup"]
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
        c.update_game_server(GameServerGroupName="burst", GameServerId=gid, UtilizationStatus="UTILIZED")
    for gid in ids[10:15]:
        c.deregister_game_server(GameServerGroupName="burst", GameServerId=gid)
    c.update_game_server(GameServerGroupName="burst", GameServerId=ids[29], GameServerData="last-write")
    d.restart(hard=True)  # immediately after the last acknowledgement
    c = d.client()
    servers = {s["GameServerId"]: s for p in c.get_paginator("list_game_servers").paginate(GameServerGroupName="burst")
               for s in p["GameServers"]}
    want = ids[:10] + ids[15:]
    assert sorted(servers) == want, "after kill -9: %r" % sorted(servers)
    for gid in want:
        assert servers[gid]["UtilizationStatus"] == ("UTILIZED" if gid in ids[:10] else "AVAILABLE"), servers[gid]
    assert servers[ids[29]].get("GameServerData") == "last-write", servers[ids[29]]


@fresh()
def test_sigterm_restart_keeps_groups_and_servers(d):
    c = d.client()
    harness.create_group(c, "keep-a", BalancingStrategy="ON_DEMAND_ONLY")
    harness.create_group(c, "keep-b")
    c.suspend_game_server_group(GameServerGroupName="keep-b", SuspendActions=["REPLACE_INSTANCE_TYPES"])
    register(c, "keep-a", "keep-a-1", inst=1, ConnectionInfo="10.3.0.1:1")
    register(c, "keep-a", "keep-a-2", inst=2)
    register(c, "keep-b", "keep-b-1", inst=3)
    c.update_game_server(GameServerGroupName="keep-a", GameServerId="keep-a-2", UtilizationStatus="UTILIZED")
    before = {n: c.list_game_servers(GameServerGroupName=n, SortOrder="ASCENDING")["GameServers"]
              for n in ("keep-a", "keep-b")}
    d.restart()
    c = d.client()
    names = sorted(g["GameServerGroupName"] for g in c.list_game_server_groups()["GameServerGroups"])
    assert names == ["keep-a", "keep-b"], names
    a = c.describe_game_server_group(GameServerGroupName="keep-a")["GameServerGroup"]
    assert a["BalancingStrategy"] == "ON_DEMAND_ONLY" and a["Status"] == "ACTIVE", a
    b = c.describe_game_server_group(GameServerGroupName="keep-b")["GameServerGroup"]
    assert b.get("SuspendedActions") == ["REPLACE_INSTANCE_TYPES"], b
    for n in ("keep-a", "keep-b"):
        after = c.list_game_servers(GameServerGroupName=n, SortOrder="ASCENDING")["GameServers"]
        assert after == before[n], "group %s changed across restart:\n%r\n%r" % (n, before[n], after)
    # The restarted daemon keeps working on the restored state.
    cl = c.claim_game_server(GameServerGroupName="keep-a")["GameServer"]
    assert cl["GameServerId"] == "keep-a-1", cl
    insts = c.describe_game_server_instances(GameServerGroupName="keep-a")["GameServerInstances"]
    assert sorted(i["InstanceId"] for i in insts) == [harness.instance_id(1), harness.instance_id(2)], insts


if __name__ == "__main__":
    harness.run()
