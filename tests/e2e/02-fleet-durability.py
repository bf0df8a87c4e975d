"""02 fleets durability: locations, fleets (live and TERMINATED), aliases, computes, auth tokens,
events and tags survive a SIGTERM restart and kill -9 on the same data dir."""

import harness
from harness import REGION, expect_error, fresh


def snapshot(c, fids, aids):
    """Everything a client can see, for comparing across restarts."""
    out = {
        "locations": c.list_locations()["Locations"],
        "fleets": c.list_fleets()["FleetIds"],
        "attrs": c.describe_fleet_attributes(FleetIds=fids)["FleetAttributes"],
        "aliases": c.list_aliases()["Aliases"],
        "resolved": [c.resolve_alias(AliasId=a)["FleetId"] for a in aids],
    }
    for fid in fids:
        out["events " + fid] = c.describe_fleet_events(FleetId=fid)["Events"]
        out["computes " + fid] = c.list_compute(FleetId=fid)["ComputeList"]
        out["locs " + fid] = c.describe_fleet_location_attributes(FleetId=fid)
        out["locs " + fid].pop("ResponseMetadata")
        attrs = c.describe_fleet_attributes(FleetIds=[fid])["FleetAttributes"][0]
        if attrs["Status"] == "ACTIVE":
            out["tags " + fid] = c.list_tags_for_resource(ResourceARN=attrs["FleetArn"])["Tags"]
            out["rt " + fid] = c.describe_runtime_configuration(FleetId=fid)
            out["rt " + fid].pop("ResponseMetadata")
    return out


@fresh()
def test_sigterm_restart_keeps_everything(d):
    c = d.client()
    c.create_location(LocationName="custom-keep-1", Tags=[{"Key": "rack", "Value": "7"}])
    c.create_location(LocationName="custom-keep-2")
    fa = c.create_fleet(Name="keep", ComputeType="ANYWHERE", Description="kept",
                        Locations=[{"Location": "custom-keep-1"}, {"Location": "custom-keep-2"}],
                        AnywhereConfiguration={"Cost": "1.5"},
                        RuntimeConfiguration={"ServerProcesses": [
                            {"LaunchPath": "/srv/g", "ConcurrentExecutions": 1}]},
                        Tags=[{"Key": "team", "Value": "core"}])["FleetAttributes"]
    fid = fa["FleetId"]
    gone = c.create_fleet(Name="gone", ComputeType="ANYWHERE")["FleetAttributes"]["FleetId"]
    c.delete_fleet(FleetId=gone)
    a1 = c.create_alias(Name="live", RoutingStrategy={"Type": "SIMPLE", "FleetId": fid})
    a2 = c.create_alias(Name="down", RoutingStrategy={"Type": "TERMINAL", "Message": "later"})
    aid, tid = a1["Alias"]["AliasId"], a2["Alias"]["AliasId"]
    for i, loc in enumerate(["custom-keep-1", "custom-keep-2", "custom-keep-1"]):
        c.register_compute(FleetId=fid, ComputeName="keep-%d" % i, IpAddress="10.9.0.%d" % i,
                           Location=loc)
    tok = c.get_compute_auth_token(FleetId=fid, ComputeName="keep-1")
    c.update_fleet_attributes(FleetId=fid, NewGameSessionProtectionPolicy="FullProtection")

    before = snapshot(c, [fid, gone], [aid])
    d.restart()
    c = d.client(port=harness.client_port(c))  # the same node: the SDK endpoint names it
    after = snapshot(c, [fid, gone], [aid])
    for k in before:
        assert before[k] == after[k], "%s changed across restart:\n%r\n%r" % (k, before[k],
                                                                             after[k])
    # the token is still the compute's (handed out again while it has over half its life)
    again = c.get_compute_auth_token(FleetId=fid, ComputeName="keep-1")
    assert again["AuthToken"] == tok["AuthToken"], (tok, again)
    assert again["ExpirationTimestamp"] == tok["ExpirationTimestamp"], (tok, again)
    expect_error("TerminalRoutingStrategyException", c.resolve_alias, AliasId=tid)
    # the restored state keeps working: in-use location refused, new fleets sort last
    expect_error("InvalidRequestException", c.delete_location, LocationName="custom-keep-1")
    new = c.create_fleet(Name="new", ComputeType="ANYWHERE")["FleetAttributes"]["FleetId"]
    assert c.list_fleets()["FleetIds"] == [fid, new]
    expect_error("ConflictException", c.register_compute, FleetId=fid, ComputeName="keep-0",
                 IpAddress="10.9.9.9", Location="custom-keep-1")
    assert c.list_tags_for_resource(
        ResourceARN="arn:aws:gamelift:%s:%s:location/custom-keep-1" % (REGION, harness.ACCOUNT)
    )["Tags"] == [{"Key": "rack", "Value": "7"}]


@fresh()
def test_kill9_keeps_acknowledged_changes(d):
    c = d.client()
    c.create_location(LocationName="custom-k9")
    fid = c.create_fleet(Name="k9", ComputeType="ANYWHERE",
                         Locations=[{"Location": "custom-k9"}])["FleetAttributes"]["FleetId"]
    names = ["k9-%02d" % i for i in range(20)]
    for n in names:
        c.register_compute(FleetId=fid, ComputeName=n, IpAddress="10.8.0.1", Location="custom-k9")
    for n in names[:5]:
        c.deregister_compute(FleetId=fid, ComputeName=n)
    tok = c.get_compute_auth_token(FleetId=fid, ComputeName=names[-1])["AuthToken"]
    d.restart(hard=True)  # right after the last acknowledgement
    c = d.client()
    got = [x["ComputeName"] for p in c.get_paginator("list_compute").paginate(FleetId=fid)
           for x in p["ComputeList"]]
    assert got == names[5:], got
    assert c.get_compute_auth_token(FleetId=fid, ComputeName=names[-1])["AuthToken"] == tok


if __name__ == "__main__":
    harness.run()
