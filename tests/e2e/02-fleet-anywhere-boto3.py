"""02 fleets through boto3: the Anywhere setup flow of gamelift-wire.md section 3.1 as far as
hangard goes today (custom location, ANYWHERE fleet, alias, compute, auth token), then
pagination, locations, capacity, events, runtime configuration and tags."""

import time

import harness
from harness import ACCOUNT, REGION, age_s, client_port, expect_error

ARN = "arn:aws:gamelift:%s:%s:" % (REGION, ACCOUNT)


def mk_fleet(c, name, *locations, **kw):
    if locations:
        kw["Locations"] = [{"Location": loc} for loc in locations]
    out = c.create_fleet(Name=name, ComputeType="ANYWHERE", **kw)
    return out["FleetAttributes"]


def register(c, fleet_id, name, loc, ip="10.0.0.1", **kw):
    return c.register_compute(FleetId=fleet_id, ComputeName=name, IpAddress=ip, Location=loc,
                              **kw)["Compute"]


def test_anywhere_flow(d):
    c = d.client()
    # 1. a custom location
    loc = c.create_location(LocationName="custom-flow-dc1")["Location"]
    assert loc == {"LocationName": "custom-flow-dc1",
                   "LocationArn": ARN + "location/custom-flow-dc1"}, loc

    # 2. an ANYWHERE fleet in it: ACTIVE at once, home Region + the custom location
    out = c.create_fleet(Name="flow", Description="the flow fleet", ComputeType="ANYWHERE",
                         Locations=[{"Location": "custom-flow-dc1"}],
                         AnywhereConfiguration={"Cost": "12.5"},
                         ResourceCreationLimitPolicy={"NewGameSessionsPerCreator": 3,
                                                      "PolicyPeriodInMinutes": 15},
                         MetricGroups=["flow-metrics"],
                         RuntimeConfiguration={"ServerProcesses": [
                             {"LaunchPath": "/opt/game/server", "ConcurrentExecutions": 2}]},
                         Tags=[{"Key": "team", "Value": "e2e"}])
    fa = out["FleetAttributes"]
    fid = fa["FleetId"]
    assert fid.startswith("fleet-") and len(fid) == 6 + 36, fid
    assert fa["FleetArn"] == ARN + "fleet/" + fid, fa
    assert fa["Status"] == "ACTIVE" and fa["ComputeType"] == "ANYWHERE", fa
    assert fa["Name"] == "flow" and fa["Description"] == "the flow fleet", fa
    assert fa["NewGameSessionProtectionPolicy"] == "NoProtection", fa
    assert fa["AnywhereConfiguration"] == {"Cost": "12.5"}, fa
    assert fa["ResourceCreationLimitPolicy"]["NewGameSessionsPerCreator"] == 3, fa
    assert fa["MetricGroups"] == ["flow-metrics"], fa
    assert "InstanceType" not in fa and "BuildId" not in fa and "TerminationTime" not in fa, fa
    assert abs(age_s(fa["CreationTime"])) < 60, fa["CreationTime"]
    assert out["LocationStates"] == [{"Location": REGION, "Status": "ACTIVE"},
                                     {"Location": "custom-flow-dc1", "Status": "ACTIVE"}], out

    # describe / list, by id and by ARN
    got = c.describe_fleet_attributes(FleetIds=[fid])["FleetAttributes"]
    assert got == [fa], (got, fa)
    got = c.describe_fleet_attributes(FleetIds=[fa["FleetArn"], "fleet-nope"])["FleetAttributes"]
    assert [f["FleetId"] for f in got] == [fid], got
    assert fid in c.list_fleets()["FleetIds"]

    # an alias for the lobby
    alias = c.create_alias(Name="flow-live", RoutingStrategy={"Type": "SIMPLE", "FleetId": fid},
                           Description="live")["Alias"]
    res = c.resolve_alias(AliasId=alias["AliasId"])
    assert res["FleetId"] == fid and res["FleetArn"] == fa["FleetArn"], res

    # 3. the host registers
    comp = register(c, fid, "flow-host-1", "custom-flow-dc1", ip="10.1.2.3",
                    DnsName="host1.flow.example")
    assert comp["FleetId"] == fid and comp["FleetArn"] == fa["FleetArn"], comp
    assert comp["ComputeName"] == "flow-host-1", comp
    assert comp["ComputeArn"] == ARN + "compute/flow-host-1", comp
    assert comp["IpAddress"] == "10.1.2.3" and comp["DnsName"] == "host1.flow.example", comp
    assert comp["ComputeStatus"] == "ACTIVE" and comp["Location"] == "custom-flow-dc1", comp
    # the node the client called (the Host of its requests)
    assert comp["GameLiftServiceSdkEndpoint"] == "ws://127.0.0.1:%d/sdk" % client_port(c), comp
    assert abs(age_s(comp["CreationTime"])) < 60, comp

    # 4. its auth token
    tok = c.get_compute_auth_token(FleetId=fid, ComputeName="flow-host-1")
    assert tok["FleetId"] == fid and tok["FleetArn"] == fa["FleetArn"], tok
    assert tok["ComputeName"] == "flow-host-1" and tok["ComputeArn"] == comp["ComputeArn"], tok
    token = tok["AuthToken"]
    assert len(token) == 64 and all(ch in "0123456789abcdef" for ch in token), token
    ttl = -age_s(tok["ExpirationTimestamp"])
    assert 14 * 60 < ttl <= 15 * 60 + 5, ttl
    # asked again soon: the same token (a compute holds at most two live tokens)
    again = c.get_compute_auth_token(FleetId=fa["FleetArn"], ComputeName=comp["ComputeArn"])
    assert again["AuthToken"] == token, again

    # describe / list computes
    assert c.describe_compute(FleetId=fid, ComputeName="flow-host-1")["Compute"] == comp
    listed = c.list_compute(FleetId=fid)["ComputeList"]
    assert listed == [comp], listed
    assert c.list_compute(FleetId=fid, Location="custom-flow-dc1")["ComputeList"] == [comp]
    assert c.list_compute(FleetId=fid, Location=REGION)["ComputeList"] == []

    # capacity and utilization count the compute
    cap = c.describe_fleet_capacity(FleetIds=[fid])["FleetCapacity"][0]
    assert cap["FleetId"] == fid and cap["Location"] == REGION, cap
    assert cap["InstanceCounts"]["ACTIVE"] == 1 and cap["InstanceCounts"]["IDLE"] == 1, cap
    lcap = c.describe_fleet_location_capacity(FleetId=fid, Location="custom-flow-dc1")
    assert lcap["FleetCapacity"]["InstanceCounts"]["ACTIVE"] == 1, lcap
    assert lcap["FleetCapacity"]["Location"] == "custom-flow-dc1", lcap
    util = c.describe_fleet_utilization(FleetIds=[fid])["FleetUtilization"][0]
    assert util["ActiveGameSessionCount"] == 0 and util["ActiveServerProcessCount"] == 0, util

    # 8. and everything goes, in order: compute, alias, fleet, location
    out = c.deregister_compute(FleetId=fid, ComputeName="flow-host-1")
    assert set(out) == {"ResponseMetadata"}, out
    expect_error("NotFoundException", c.describe_compute, FleetId=fid, ComputeName="flow-host-1")
    c.delete_alias(AliasId=alias["AliasId"])
    expect_error("NotFoundException", c.describe_alias, AliasId=alias["AliasId"])
    c.delete_fleet(FleetId=fid)
    gone = c.describe_fleet_attributes(FleetIds=[fid])["FleetAttributes"][0]
    assert gone["Status"] == "TERMINATED" and abs(age_s(gone["TerminationTime"])) < 60, gone
    assert fid not in c.list_fleets()["FleetIds"]
    events = c.describe_fleet_events(FleetId=fid)["Events"]
    codes = [e["EventCode"] for e in events]
    assert codes[:2] == ["FLEET_CREATED", "FLEET_STATE_ACTIVE"], codes
    assert codes[-1] == "FLEET_DELETED", codes
    assert all(e["ResourceId"] == fid and e["EventId"] for e in events), events
    c.delete_location(LocationName="custom-flow-dc1")
    names = [x["LocationName"] for x in c.list_locations(Filters=["CUSTOM"])["Locations"]]
    assert "custom-flow-dc1" not in names, names


def test_terminal_alias(d):
    c = d.client()
    fa = mk_fleet(c, "term")
    a = c.create_alias(Name="closed", RoutingStrategy={"Type": "TERMINAL",
                                                        "Message": "Servers are down for tea",
                                                        "FleetId": fa["FleetId"]})["Alias"]
    assert a["AliasId"].startswith("alias-") and a["AliasArn"] == ARN + "alias/" + a["AliasId"]
    assert a["RoutingStrategy"] == {"Type": "TERMINAL", "Message": "Servers are down for tea"}, a
    msg, status = expect_error("TerminalRoutingStrategyException", c.resolve_alias,
                               AliasId=a["AliasId"])
    assert msg == "Servers are down for tea" and status == 400, (msg, status)
    # switch it to SIMPLE: it resolves
    time.sleep(0.01)
    up = c.update_alias(AliasId=a["AliasArn"], Name="open",
                        RoutingStrategy={"Type": "SIMPLE", "FleetId": fa["FleetId"]})["Alias"]
    assert up["Name"] == "open" and up["RoutingStrategy"]["FleetId"] == fa["FleetId"], up
    assert up["LastUpdatedTime"] > up["CreationTime"], up
    assert c.resolve_alias(AliasId=a["AliasId"])["FleetId"] == fa["FleetId"]
    assert c.describe_alias(AliasId=a["AliasId"])["Alias"] == up


def test_list_aliases_filters_and_pages(d):
    c = d.client()
    fa = mk_fleet(c, "aliases")
    ids = []
    for i in range(5):
        rs = ({"Type": "TERMINAL", "Message": "no"} if i % 2
              else {"Type": "SIMPLE", "FleetId": fa["FleetId"]})
        ids.append(c.create_alias(Name="la-%d" % (i % 3), RoutingStrategy=rs)["Alias"]["AliasId"])
    pages = list(c.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 2}))
    got = [a["AliasId"] for p in pages for a in p["Aliases"]]
    assert [i for i in got if i in ids] == ids, got
    term = c.list_aliases(RoutingStrategyType="TERMINAL")["Aliases"]
    assert {a["AliasId"] for a in term} >= {ids[1], ids[3]}, term
    assert all(a["RoutingStrategy"]["Type"] == "TERMINAL" for a in term), term
    named = c.list_aliases(Name="la-0")["Aliases"]
    assert [a["AliasId"] for a in named] == [ids[0], ids[3]], named


def test_locations_list_filters_and_pages(d):
    c = d.client()
    for n in ("custom-ll-a", "custom-ll-b", "custom-ll-c"):
        c.create_location(LocationName=n, Tags=[{"Key": "k", "Value": n}])
    everything = [x["LocationName"] for p in c.get_paginator("list_locations").paginate(
        PaginationConfig={"PageSize": 1}) for x in p["Locations"]]
    assert everything == sorted(everything), everything
    assert REGION in everything and {"custom-ll-a", "custom-ll-b", "custom-ll-c"} <= set(everything)
    aws = c.list_locations(Filters=["AWS"])["Locations"]
    assert aws == [{"LocationName": REGION}], aws
    custom = [x["LocationName"] for x in c.list_locations(Filters=["CUSTOM"])["Locations"]]
    assert REGION not in custom and "custom-ll-b" in custom, custom
    assert c.list_tags_for_resource(ResourceARN=ARN + "location/custom-ll-b")["Tags"] == [
        {"Key": "k", "Value": "custom-ll-b"}]
    c.delete_location(LocationName=ARN + "location/custom-ll-c")  # by ARN
    custom = [x["LocationName"] for x in c.list_locations(Filters=["CUSTOM"])["Locations"]]
    assert "custom-ll-c" not in custom, custom


def test_fleet_pages_and_fleet_locations(d):
    c = d.client()
    for n in ("custom-fl-1", "custom-fl-2"):
        c.create_location(LocationName=n)
    ids = [mk_fleet(c, "page-%d" % i, "custom-fl-1")["FleetId"] for i in range(4)]
    listed = [i for p in c.get_paginator("list_fleets").paginate(PaginationConfig={"PageSize": 3})
              for i in p["FleetIds"]]
    assert [i for i in listed if i in ids] == ids, listed
    attrs = [a["FleetId"] for p in c.get_paginator("describe_fleet_attributes").paginate(
        PaginationConfig={"PageSize": 2}) for a in p["FleetAttributes"]]
    assert [i for i in attrs if i in ids] == ids, attrs
    caps = [x["FleetId"] for p in c.get_paginator("describe_fleet_capacity").paginate(
        PaginationConfig={"PageSize": 2}) for x in p["FleetCapacity"]]
    assert [i for i in caps if i in ids] == ids, caps

    fid = ids[0]
    out = c.create_fleet_locations(FleetId=fid, Locations=[{"Location": "custom-fl-2"}])
    assert out["FleetId"] == fid and out["LocationStates"] == [
        {"Location": "custom-fl-2", "Status": "ACTIVE"}], out
    la = c.describe_fleet_location_attributes(FleetId=fid)["LocationAttributes"]
    assert [x["LocationState"]["Location"] for x in la] == [REGION, "custom-fl-1",
                                                            "custom-fl-2"], la
    page = c.describe_fleet_location_attributes(FleetId=fid, Limit=2)
    assert len(page["LocationAttributes"]) == 2 and page["NextToken"], page
    rest = c.describe_fleet_location_attributes(FleetId=fid, Limit=2, NextToken=page["NextToken"])
    assert [x["LocationState"]["Location"] for x in rest["LocationAttributes"]] == [
        "custom-fl-2"], rest
    assert "NextToken" not in rest, rest
    only = c.describe_fleet_location_attributes(FleetId=fid, Locations=["custom-fl-2"])
    assert len(only["LocationAttributes"]) == 1, only

    register(c, fid, "fl-host", "custom-fl-2")
    out = c.delete_fleet_locations(FleetId=fid, Locations=["custom-fl-2"])
    assert out["LocationStates"] == [{"Location": "custom-fl-2", "Status": "TERMINATED"}], out
    assert c.list_compute(FleetId=fid)["ComputeList"] == [], "the location's computes stay"
    u = c.describe_fleet_location_utilization(FleetId=fid, Location="custom-fl-1")
    assert u["FleetUtilization"]["Location"] == "custom-fl-1", u


def test_compute_pages_and_retried_registration(d):
    c = d.client()
    c.create_location(LocationName="custom-cp")
    fid = mk_fleet(c, "computes", "custom-cp")["FleetId"]
    names = ["cp-%02d" % i for i in range(7)]
    for n in names:
        register(c, fid, n, "custom-cp")
    # registering the same host again (a retried request) returns it unchanged
    again = register(c, fid, names[0], "custom-cp")
    assert again["ComputeName"] == names[0], again
    pages = list(c.get_paginator("list_compute").paginate(FleetId=fid,
                                                           PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3, pages
    assert [x["ComputeName"] for p in pages for x in p["ComputeList"]] == names
    # a compute removed between pages does not disturb the next page
    first = c.list_compute(FleetId=fid, Limit=2)
    c.deregister_compute(FleetId=fid, ComputeName=ARN + "compute/" + names[1])
    second = c.list_compute(FleetId=fid, Limit=2, NextToken=first["NextToken"])
    assert [x["ComputeName"] for x in second["ComputeList"]] == names[2:4], second


def test_update_fleet_and_runtime_configuration(d):
    c = d.client()
    fa = mk_fleet(c, "upd")
    fid = fa["FleetId"]
    out = c.update_fleet_attributes(FleetId=fid, Name="updated", Description="new words",
                                    NewGameSessionProtectionPolicy="FullProtection",
                                    MetricGroups=["g2"])
    assert out["FleetId"] == fid and out["FleetArn"] == fa["FleetArn"], out
    got = c.describe_fleet_attributes(FleetIds=[fid])["FleetAttributes"][0]
    assert got["Name"] == "updated" and got["Description"] == "new words", got
    assert got["NewGameSessionProtectionPolicy"] == "FullProtection", got
    assert got["MetricGroups"] == ["g2"], got
    codes = [e["EventCode"] for e in c.describe_fleet_events(FleetId=fid)["Events"]]
    assert codes[-1] == "FLEET_NEW_GAME_SESSION_PROTECTION_POLICY_UPDATED", codes
    rt = {"ServerProcesses": [{"LaunchPath": "/srv/game", "Parameters": "-port 7777",
                               "ConcurrentExecutions": 4}],
          "MaxConcurrentGameSessionActivations": 2, "GameSessionActivationTimeoutSeconds": 300}
    out = c.update_runtime_configuration(FleetId=fid, RuntimeConfiguration=rt)
    assert out["RuntimeConfiguration"] == rt, out
    assert c.describe_runtime_configuration(FleetId=fid)["RuntimeConfiguration"] == rt


def test_fleet_events_time_window_and_pages(d):
    c = d.client()
    c.create_location(LocationName="custom-ev")
    fid = mk_fleet(c, "events", "custom-ev")["FleetId"]
    for i in range(3):
        register(c, fid, "ev-%d" % i, "custom-ev")
    events = [e for p in c.get_paginator("describe_fleet_events").paginate(
        FleetId=fid, PaginationConfig={"PageSize": 2}) for e in p["Events"]]
    assert len(events) == 5, events
    assert len({e["EventId"] for e in events}) == 5, events
    times = [e["EventTime"] for e in events]
    assert times == sorted(times), times
    future = c.describe_fleet_events(FleetId=fid, StartTime=time.time() + 3600)["Events"]
    assert future == [], future
    past = c.describe_fleet_events(FleetId=fid, EndTime=time.time() - 3600)["Events"]
    assert past == [], past


def test_tags(d):
    c = d.client()
    fa = mk_fleet(c, "tags", Tags=[{"Key": "a", "Value": "1"}])
    arn = fa["FleetArn"]
    assert c.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    c.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "2"}, {"Key": "b", "Value": ""}])
    assert c.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "2"},
                                                                 {"Key": "b", "Value": ""}]
    c.untag_resource(ResourceARN=arn, TagKeys=["a", "zzz"])
    assert c.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": ""}]
    # 200 at most
    many = [{"Key": "k%03d" % i, "Value": "v"} for i in range(199)]
    c.tag_resource(ResourceARN=arn, Tags=many)
    expect_error("InvalidRequestException", c.tag_resource, ResourceARN=arn,
                 Tags=[{"Key": "one-too-many", "Value": "v"}])
    assert len(c.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 200
    expect_error("InvalidRequestException", c.tag_resource, ResourceARN=arn,
                 Tags=[{"Key": "aws:reserved", "Value": "v"}])
    # aliases
    al = c.create_alias(Name="tagged", RoutingStrategy={"Type": "TERMINAL", "Message": "m"},
                        Tags=[{"Key": "x", "Value": "y"}])["Alias"]
    assert c.list_tags_for_resource(ResourceARN=al["AliasArn"])["Tags"] == [
        {"Key": "x", "Value": "y"}]
    # FleetIQ game server groups
    g = harness.create_group(c, "tag-grp", Tags=[{"Key": "g", "Value": "1"}])
    garn = g["GameServerGroupArn"]
    assert c.list_tags_for_resource(ResourceARN=garn)["Tags"] == [{"Key": "g", "Value": "1"}]
    c.tag_resource(ResourceARN=garn, Tags=[{"Key": "h", "Value": "2"}])
    c.untag_resource(ResourceARN=garn, TagKeys=["g"])
    assert c.list_tags_for_resource(ResourceARN=garn)["Tags"] == [{"Key": "h", "Value": "2"}]
    # unknown resources
    expect_error("NotFoundException", c.list_tags_for_resource,
                 ResourceARN=ARN + "fleet/fleet-00000000-0000-4000-8000-000000000000")
    expect_error("NotFoundException", c.tag_resource, ResourceARN=ARN + "alias/alias-nope",
                 Tags=[{"Key": "a", "Value": "b"}])
    c.delete_fleet(FleetId=fa["FleetId"])
    expect_error("NotFoundException", c.list_tags_for_resource, ResourceARN=arn)


if __name__ == "__main__":
    harness.run()
