"""02 fleets: refusals, each with the `__type` the operation's model lists (an error the model
does not list for that call is InvalidRequestException), and state left unchanged by them."""

import json

import harness
from harness import ACCOUNT, REGION, expect_error

ARN = "arn:aws:gamelift:%s:%s:" % (REGION, ACCOUNT)
NO_FLEET = "fleet-00000000-0000-4000-8000-000000000000"


def mk_fleet(c, name, *locations):
    kw = {"Locations": [{"Location": loc} for loc in locations]} if locations else {}
    return c.create_fleet(Name=name, ComputeType="ANYWHERE", **kw)["FleetAttributes"]["FleetId"]


def test_only_anywhere_fleets(d):
    c = d.client()
    msg, _ = expect_error("InvalidRequestException", c.create_fleet, Name="ec2")
    assert "ANYWHERE" in msg, msg
    msg, _ = expect_error("InvalidRequestException", c.create_fleet, Name="ec2",
                          ComputeType="EC2", EC2InstanceType="c5.large")
    assert "ANYWHERE" in msg, msg
    msg, _ = expect_error("InvalidRequestException", c.create_fleet, Name="mixed",
                          ComputeType="ANYWHERE", EC2InstanceType="c5.large")
    assert "EC2InstanceType" in msg, msg
    expect_error("InvalidRequestException", c.create_fleet, Name="busy", ComputeType="ANYWHERE",
                 RuntimeConfiguration={"ServerProcesses": [
                     {"LaunchPath": "/a", "ConcurrentExecutions": 30},
                     {"LaunchPath": "/b", "ConcurrentExecutions": 21}]})
    msg, _ = expect_error("NotFoundException", c.create_fleet, Name="lost",
                          ComputeType="ANYWHERE", Locations=[{"Location": "custom-nowhere"}])
    assert "custom-nowhere" in msg, msg
    expect_error("InvalidRequestException", c.create_fleet, Name="aws", ComputeType="ANYWHERE",
                 Locations=[{"Location": "eu-west-1"}])
    assert c.list_fleets()["FleetIds"] == [], "a refused CreateFleet left a fleet"


def test_locations(d):
    c = d.client()
    expect_error("InvalidRequestException", c.create_location, LocationName="dc1-not-custom")
    c.create_location(LocationName="custom-err")
    expect_error("ConflictException", c.create_location, LocationName="custom-err")
    fid = mk_fleet(c, "uses-loc", "custom-err")
    msg, _ = expect_error("InvalidRequestException", c.delete_location, LocationName="custom-err")
    assert "used by 1 fleet" in msg, msg
    expect_error("NotFoundException", c.delete_location, LocationName="custom-never")
    expect_error("InvalidRequestException", c.create_fleet_locations, FleetId=fid,
                 Locations=[{"Location": "custom-err"}])
    expect_error("NotFoundException", c.create_fleet_locations, FleetId=fid,
                 Locations=[{"Location": "custom-never"}])
    expect_error("InvalidRequestException", c.delete_fleet_locations, FleetId=fid,
                 Locations=[REGION])
    expect_error("InvalidRequestException", c.describe_fleet_location_capacity, FleetId=fid,
                 Location="custom-other")
    expect_error("InvalidRequestException", c.list_locations, NextToken="garbage")


def test_computes(d):
    c = d.client()
    c.create_location(LocationName="custom-ce-a")
    c.create_location(LocationName="custom-ce-b")
    fid = mk_fleet(c, "computes", "custom-ce-a")
    # RegisterCompute's model has no NotFoundException: an unknown fleet is an invalid request
    msg, _ = expect_error("InvalidRequestException", c.register_compute, FleetId=NO_FLEET,
                          ComputeName="h", IpAddress="10.0.0.1", Location="custom-ce-a")
    assert "not found" in msg, msg
    expect_error("InvalidRequestException", c.register_compute, FleetId=fid, ComputeName="h",
                 IpAddress="10.0.0.1")  # no Location
    expect_error("InvalidRequestException", c.register_compute, FleetId=fid, ComputeName="h",
                 Location="custom-ce-a")  # no address
    expect_error("InvalidRequestException", c.register_compute, FleetId=fid, ComputeName="h",
                 IpAddress="10.0.0.1", Location="custom-ce-b")  # not the fleet's
    expect_error("InvalidRequestException", c.register_compute, FleetId=fid, ComputeName="h",
                 IpAddress="10.0.0.1", Location=REGION)
    c.register_compute(FleetId=fid, ComputeName="h", IpAddress="10.0.0.1", Location="custom-ce-a")
    msg, _ = expect_error("ConflictException", c.register_compute, FleetId=fid, ComputeName="h",
                          IpAddress="10.0.0.2", Location="custom-ce-a")
    got = c.describe_compute(FleetId=fid, ComputeName="h")["Compute"]
    assert got["IpAddress"] == "10.0.0.1", got
    expect_error("NotFoundException", c.describe_compute, FleetId=fid, ComputeName="nope")
    expect_error("NotFoundException", c.describe_compute, FleetId=NO_FLEET, ComputeName="h")
    expect_error("NotFoundException", c.get_compute_auth_token, FleetId=fid, ComputeName="nope")
    expect_error("NotFoundException", c.deregister_compute, FleetId=fid, ComputeName="nope")
    expect_error("InvalidRequestException", c.list_compute, FleetId=NO_FLEET)
    expect_error("InvalidRequestException", c.list_compute, FleetId=fid, NextToken="c:xyz")
    # a compute ARN of another name does not match
    expect_error("NotFoundException", c.describe_compute, FleetId=fid,
                 ComputeName=ARN + "compute/other")


def test_deleted_fleet(d):
    c = d.client()
    c.create_location(LocationName="custom-del")
    fid = mk_fleet(c, "doomed", "custom-del")
    c.register_compute(FleetId=fid, ComputeName="h", IpAddress="10.0.0.1", Location="custom-del")
    c.delete_fleet(FleetId=fid)
    expect_error("InvalidFleetStatusException", c.delete_fleet, FleetId=fid)
    expect_error("NotFoundException", c.delete_fleet, FleetId=NO_FLEET)
    expect_error("InvalidFleetStatusException", c.update_fleet_attributes, FleetId=fid, Name="x")
    expect_error("InvalidFleetStatusException", c.create_fleet_locations, FleetId=fid,
                 Locations=[{"Location": "custom-del"}])
    msg, _ = expect_error("InvalidRequestException", c.register_compute, FleetId=fid,
                          ComputeName="h2", IpAddress="10.0.0.1", Location="custom-del")
    assert "TERMINATED" in msg, msg
    assert c.list_compute(FleetId=fid)["ComputeList"] == []
    expect_error("InvalidRequestException", c.create_alias, Name="late",
                 RoutingStrategy={"Type": "SIMPLE", "FleetId": fid})
    c.delete_location(LocationName="custom-del")  # released by the deletion


def test_aliases(d):
    c = d.client()
    expect_error("InvalidRequestException", c.create_alias, Name="a",
                 RoutingStrategy={"Type": "SIMPLE"})
    expect_error("InvalidRequestException", c.create_alias, Name="a",
                 RoutingStrategy={"FleetId": NO_FLEET})
    # CreateAlias models no NotFoundException; UpdateAlias does
    expect_error("InvalidRequestException", c.create_alias, Name="a",
                 RoutingStrategy={"Type": "SIMPLE", "FleetId": NO_FLEET})
    a = c.create_alias(Name="a", RoutingStrategy={"Type": "TERMINAL"})["Alias"]
    msg, _ = expect_error("TerminalRoutingStrategyException", c.resolve_alias,
                          AliasId=a["AliasId"])
    assert msg, "a TERMINAL alias without a message still explains itself"
    expect_error("NotFoundException", c.update_alias, AliasId=a["AliasId"],
                 RoutingStrategy={"Type": "SIMPLE", "FleetId": NO_FLEET})
    assert c.describe_alias(AliasId=a["AliasId"])["Alias"]["RoutingStrategy"]["Type"] == \
        "TERMINAL", "a refused update changed the alias"
    expect_error("NotFoundException", c.resolve_alias, AliasId="alias-nope")
    expect_error("NotFoundException", c.describe_alias,
                 AliasId="arn:aws:gamelift:eu-west-1:111111111111:alias/" + a["AliasId"])
    expect_error("NotFoundException", c.delete_alias, AliasId="alias-nope")
    expect_error("InvalidRequestException", c.list_aliases, NextToken="f:1")


def test_wire_error_shape(d):
    r = d.raw("ResolveAlias", {"AliasId": "alias-nope"})
    assert r.status == 400, r
    body = r.json()
    assert body["__type"] == "NotFoundException" and "alias-nope" in body["message"], body
    r = d.raw("RegisterCompute", {"FleetId": NO_FLEET, "ComputeName": "h",
                                  "IpAddress": "10.0.0.1", "Location": "custom-x"})
    assert r.status == 400 and r.json()["__type"] == "InvalidRequestException", r
    r = d.raw("CreateLocation", json.dumps({"LocationName": "x"}))
    assert r.status == 400 and r.json()["__type"] == "InvalidRequestException", r
    assert "validation error" in r.json()["message"], r


def test_tags(d):
    c = d.client()
    expect_error("InvalidRequestException", c.list_tags_for_resource, ResourceARN="fleet-x")
    expect_error("InvalidRequestException", c.list_tags_for_resource,
                 ResourceARN=ARN + "build/build-1")
    expect_error("NotFoundException", c.list_tags_for_resource,
                 ResourceARN=ARN + "gameservergroup/nope")
    expect_error("NotFoundException", c.untag_resource, ResourceARN=ARN + "location/custom-no",
                 TagKeys=["a"])
    expect_error("InvalidRequestException", c.create_location, LocationName="custom-tagged",
                 Tags=[{"Key": "aws:x", "Value": "y"}])
    names = [x["LocationName"] for x in c.list_locations(Filters=["CUSTOM"])["Locations"]]
    assert "custom-tagged" not in names, names


if __name__ == "__main__":
    harness.run()
