"""02 fleets through the AWS CLI (/usr/bin/aws gamelift ... --endpoint-url): the Anywhere setup
(location, fleet, alias, compute, auth token), auto-pagination, and service errors."""
# needs: aws-cli

import datetime
import time

import harness


def cli_ok(d, *args):
    rc, out, err = harness.aws_cli(d, *args)
    assert rc == 0, "aws gamelift %s exited %d: %s" % (" ".join(args), rc, err)
    return out


def cli_error(d, code, *args):
    rc, out, err = harness.aws_cli(d, *args)
    assert rc != 0, "aws gamelift %s succeeded, wanted %s: %r" % (args[0], code, out)
    assert "(%s)" % code in err, "aws gamelift %s: wanted %s, stderr: %s" % (args[0], code, err)
    return err


def ts(value):
    t = datetime.datetime.fromisoformat(value)
    assert t.tzinfo is not None, value
    return t.timestamp()


def test_cli_anywhere_setup(d):
    loc = cli_ok(d, "create-location", "--location-name", "custom-cli-dc")["Location"]
    assert loc["LocationName"] == "custom-cli-dc", loc
    fa = cli_ok(d, "create-fleet", "--name", "cli-fleet", "--compute-type", "ANYWHERE",
                "--locations", "Location=custom-cli-dc",
                "--anywhere-configuration", "Cost=0.5")
    fid = fa["FleetAttributes"]["FleetId"]
    assert fa["FleetAttributes"]["Status"] == "ACTIVE", fa
    assert abs(time.time() - ts(fa["FleetAttributes"]["CreationTime"])) < 60, fa
    assert [s["Location"] for s in fa["LocationStates"]] == [harness.REGION, "custom-cli-dc"]

    alias = cli_ok(d, "create-alias", "--name", "cli-live", "--routing-strategy",
                   "Type=SIMPLE,FleetId=" + fid)["Alias"]
    assert cli_ok(d, "resolve-alias", "--alias-id", alias["AliasId"])["FleetId"] == fid

    comp = cli_ok(d, "register-compute", "--fleet-id", fid, "--compute-name", "cli-host",
                  "--ip-address", "192.0.2.10", "--location", "custom-cli-dc")["Compute"]
    assert comp["ComputeStatus"] == "ACTIVE", comp
    assert comp["GameLiftServiceSdkEndpoint"].startswith("ws://127.0.0.1:"), comp
    tok = cli_ok(d, "get-compute-auth-token", "--fleet-id", fid, "--compute-name", "cli-host")
    assert len(tok["AuthToken"]) == 64, tok
    assert 14 * 60 < ts(tok["ExpirationTimestamp"]) - time.time() <= 15 * 60 + 5, tok

    listed = cli_ok(d, "list-compute", "--fleet-id", fid)["ComputeList"]
    assert [x["ComputeName"] for x in listed] == ["cli-host"], listed
    events = cli_ok(d, "describe-fleet-events", "--fleet-id", fid)["Events"]
    assert events[0]["EventCode"] == "FLEET_CREATED", events

    cli_ok(d, "deregister-compute", "--fleet-id", fid, "--compute-name", "cli-host")
    cli_ok(d, "delete-alias", "--alias-id", alias["AliasId"])
    cli_ok(d, "delete-fleet", "--fleet-id", fid)
    cli_ok(d, "delete-location", "--location-name", "custom-cli-dc")


def test_cli_pagination_and_errors(d):
    c = d.client()
    ids = [c.create_fleet(Name="cli-p%d" % i, ComputeType="ANYWHERE")["FleetAttributes"]["FleetId"]
           for i in range(5)]
    # the CLI follows NextToken by itself; --page-size sets Limit
    out = cli_ok(d, "list-fleets", "--page-size", "2")
    assert out["FleetIds"] == ids, out
    out = cli_ok(d, "describe-fleet-attributes", "--page-size", "2", "--max-items", "3")
    assert [f["FleetId"] for f in out["FleetAttributes"]] == ids[:3], out
    assert out.get("NextToken"), out
    err = cli_error(d, "InvalidRequestException", "create-fleet", "--name", "ec2")
    assert "ANYWHERE" in err, err
    cli_error(d, "NotFoundException", "describe-fleet-events", "--fleet-id",
              "fleet-00000000-0000-4000-8000-000000000000")
    cli_error(d, "TerminalRoutingStrategyException", "resolve-alias", "--alias-id",
              c.create_alias(Name="t", RoutingStrategy={"Type": "TERMINAL",
                                                        "Message": "gone"})["Alias"]["AliasId"])


if __name__ == "__main__":
    harness.run()
