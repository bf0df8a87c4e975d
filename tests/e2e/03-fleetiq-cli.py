"""03 FleetIQ through the AWS CLI (/usr/bin/aws gamelift ... --endpoint-url): the core
game-server lifecycle, CLI auto-pagination, and service errors surfacing as CLI errors."""
# needs: aws-cli

import datetime
import time

import harness

GRP = ["--game-server-group-name", "cli-grp"]
GS1 = GRP + ["--game-server-id", "cli-gs-1"]


def cli_ok(d, *args):
    rc, out, err = harness.aws_cli(d, *args)
    assert rc == 0, "aws gamelift %s exited %d: %s" % (" ".join(args), rc, err)
    return out


def cli_error(d, code, *args):
    rc, out, err = harness.aws_cli(d, *args)
    assert rc != 0, "aws gamelift %s succeeded, wanted %s: %r" % (args[0], code, out)
    assert "(%s)" % code in err, "aws gamelift %s: wanted %s, stderr: %s" % (args[0], code, err)
    return err


def recent(ts):
    t = datetime.datetime.fromisoformat(ts)
    assert t.tzinfo is not None, ts
    assert abs(time.time() - t.timestamp()) < 60, "timestamp %s is not now" % ts


def test_cli_flow(d):
    echo = harness.EchoServer()
    try:
        g = cli_ok(d, "create-game-server-group", *GRP, "--role-arn", harness.ROLE_ARN,
                   "--min-size", "1", "--max-size", "3",
                   "--launch-template", "LaunchTemplateName=cli-lt,Version=2",
                   "--instance-definitions", "InstanceType=c5.large",
                   "InstanceType=c5.xlarge,WeightedCapacity=2")["GameServerGroup"]
        assert g["GameServerGroupName"] == "cli-grp", g
        assert g["GameServerGroupArn"] == harness.group_arn("cli-grp"), g
        defs = [(i["InstanceType"], i.get("WeightedCapacity", "1"))
                for i in g["InstanceDefinitions"]]
        assert defs == [("c5.large", "1"), ("c5.xlarge", "2")], g["InstanceDefinitions"]
        recent(g["CreationTime"])

        def active():
            s = cli_ok(d, "describe-game-server-group", *GRP)["GameServerGroup"]["Status"]
            assert s in ("NEW", "ACTIVATING", "ACTIVE"), s
            return s == "ACTIVE"
        harness.wait_until(active, 15, 0.2, "cli-grp to become ACTIVE")

        assert cli_ok(d, "list-game-servers", *GRP)["GameServers"] == []

        gs = cli_ok(d, "register-game-server", *GS1, "--instance-id", harness.instance_id(1),
                    "--connection-info", echo.address,
                    "--game-server-data", "mode=ctf")["GameServer"]
        assert gs["GameServerId"] == "cli-gs-1" and gs["UtilizationStatus"] == "AVAILABLE", gs
        assert gs["ConnectionInfo"] == echo.address and "ClaimStatus" not in gs, gs
        recent(gs["RegistrationTime"])

        up = cli_ok(d, "update-game-server", *GS1, "--health-check", "HEALTHY",
                    "--utilization-status", "AVAILABLE")["GameServer"]
        recent(up["LastHealthCheckTime"])

        cl = cli_ok(d, "claim-game-server", *GRP)["GameServer"]
        assert cl["GameServerId"] == "cli-gs-1" and cl["ClaimStatus"] == "CLAIMED", cl
        recent(cl["LastClaimTime"])
        assert harness.talk(cl["ConnectionInfo"], "gg") == "echo: gg\n"
        cli_error(d, "OutOfCapacityException", "claim-game-server", *GRP)

        cli_ok(d, "update-game-server", *GS1, "--utilization-status", "UTILIZED")
        got = cli_ok(d, "describe-game-server", *GS1)["GameServer"]
        assert got["UtilizationStatus"] == "UTILIZED", got
        assert got["GameServerData"] == "mode=ctf", got

        out = cli_ok(d, "deregister-game-server", *GS1)
        assert not out, "deregister-game-server printed %r" % out
        cli_error(d, "NotFoundException", "describe-game-server", *GS1)
        assert cli_ok(d, "list-game-servers", *GRP)["GameServers"] == []
    finally:
        echo.close()


def test_cli_pagination_and_errors(d):
    c = d.client()
    harness.create_group(c, "cli-page")
    page = ["--game-server-group-name", "cli-page"]
    ids = ["cli-page-%d" % i for i in range(5)]
    for gid in ids:
        harness.register(c, "cli-page", gid)
        time.sleep(0.01)
    # The CLI follows NextToken by itself; --page-size sets Limit.
    out = cli_ok(d, "list-game-servers", *page, "--page-size", "2", "--sort-order", "ASCENDING")
    assert [s["GameServerId"] for s in out["GameServers"]] == ids, out
    out = cli_ok(d, "list-game-servers", *page, "--max-items", "3", "--page-size", "2",
                 "--sort-order", "DESCENDING")
    assert [s["GameServerId"] for s in out["GameServers"]] == ids[::-1][:3], out
    assert out.get("NextToken"), "--max-items did not leave a resume token: %r" % out
    cli_error(d, "ConflictException", "register-game-server", *page, "--game-server-id", ids[0],
              "--instance-id", harness.instance_id(2))
    cli_error(d, "InvalidRequestException", "update-game-server", *page,
              "--game-server-id", ids[0], "--utilization-status", "BOGUS")
    rc, out, err = harness.aws_cli(d, "list-game-server-groups", key_id="AKIANOSUCHKEY0000000")
    assert rc != 0 and "UnrecognizedClientException" in err, (rc, out, err)


if __name__ == "__main__":
    harness.run()
