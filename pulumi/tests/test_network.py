"""Network: two AZs or more, no automatic public IPs, locked default SG, flow logs, endpoints, SGs."""

from __future__ import annotations

from typing import Any

from tests.harness import StackRun, key_arn

SUBNET = "aws:ec2/subnet:Subnet"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"


def test_subnets_span_at_least_two_availability_zones(dev: StackRun, prod: StackRun) -> None:
    for run, count in ((dev, 2), (prod, 3)):
        for tier in ("public", "private"):
            zones = {
                s.inputs["availabilityZone"] for s in run.of_type(SUBNET) if s.inputs["tags"]["Tier"] == tier
            }
            assert len(zones) == count


def test_no_subnet_assigns_public_ips_automatically(prod: StackRun) -> None:
    assert {s.inputs.get("mapPublicIpOnLaunch") for s in prod.of_type(SUBNET)} == {False}


def test_multi_host_app_subnets_reach_the_internet_only_through_the_nat(prod: StackRun) -> None:
    routes = {r.name: r.inputs for r in prod.of_type("aws:ec2/route:Route")}
    assert routes["network-app-default"] == {
        "routeTableId": "network-app-rt-id",
        "destinationCidrBlock": "0.0.0.0/0",
        "natGatewayId": "network-nat-id",
    }
    (nat,) = prod.of_type("aws:ec2/natGateway:NatGateway")
    assert nat.inputs["subnetId"] == "network-public-0-id"
    app = [s.inputs for s in prod.of_type(SUBNET) if s.inputs["tags"]["Tier"] == "app"]
    assert [s["cidrBlock"] for s in app] == ["10.42.64.0/20", "10.42.80.0/20", "10.42.96.0/20"]
    private_assoc = [
        a.inputs["routeTableId"]
        for a in prod.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if "private" in a.name
    ]
    assert set(private_assoc) == {"network-private-rt-id"}  # the database keeps no internet route
    assert sorted(routes) == ["network-app-default", "network-public-default"]


def test_app_subnets_reach_s3_through_the_gateway_endpoint(prod: StackRun) -> None:
    """The SSM agent's package comes from the regional S3 bucket at first boot."""
    s3 = prod.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-endpoint-s3").inputs
    assert s3["routeTableIds"] == ["network-public-rt-id", "network-private-rt-id", "network-app-rt-id"]


def test_single_host_stack_has_no_nat_and_no_app_subnets(dev: StackRun) -> None:
    assert not dev.of_type("aws:ec2/natGateway:NatGateway")
    assert {s.inputs["tags"]["Tier"] for s in dev.of_type(SUBNET)} == {"public", "private"}


def test_private_subnets_have_no_internet_route(dev: StackRun) -> None:
    routes = dev.of_type("aws:ec2/route:Route")
    assert [r.inputs["routeTableId"] for r in routes] == ["network-public-rt-id"]
    private_assoc = [
        a for a in dev.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation") if "private" in a.name
    ]
    assert {a.inputs["routeTableId"] for a in private_assoc} == {"network-private-rt-id"}


def test_default_security_group_has_no_rules(dev: StackRun) -> None:
    (default_sg,) = dev.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default_sg.inputs["vpcId"] == "network-vpc-id"
    assert not default_sg.inputs.get("ingress")
    assert not default_sg.inputs.get("egress")


def test_vpc_flow_logs_capture_all_traffic_to_encrypted_group(dev: StackRun) -> None:
    (flow_log,) = dev.of_type("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["vpcId"] == "network-vpc-id"
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestination"].endswith(":log-group:/soc2kit/dev/vpc-flow-logs")
    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "logs-vpc-flow-logs")
    assert group.inputs["kmsKeyId"] == key_arn("logs")


def test_interface_endpoints_keep_secret_traffic_in_vpc(dev: StackRun) -> None:
    endpoints = {e.inputs["serviceName"]: e.inputs for e in dev.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    for service in ("secretsmanager", "kms", "ssm", "logs"):
        endpoint = endpoints[f"com.amazonaws.eu-west-1.{service}"]
        assert endpoint["vpcEndpointType"] == "Interface"
        assert endpoint["privateDnsEnabled"] is True
        assert endpoint["securityGroupIds"] == ["network-endpoints-sg-id"]


def _rules(run: StackRun, kind: str, group: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.of_type(kind) if r.inputs["securityGroupId"] == f"network-{group}-sg-id"]


def test_only_http_and_https_open_to_the_world(dev_with_ssh: StackRun) -> None:
    world = [
        r
        for r in dev_with_ssh.of_type(INGRESS)
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6")
    ]
    assert sorted((r.inputs["fromPort"], r.inputs["toPort"]) for r in world) == [(80, 80), (443, 443)]


def test_ssh_only_from_admin_cidr(dev_with_ssh: StackRun) -> None:
    ssh = [r for r in _rules(dev_with_ssh, INGRESS, "hosts") if r["fromPort"] == 22]
    assert [r["cidrIpv4"] for r in ssh] == ["203.0.113.0/24"]


def test_no_ssh_at_all_without_admin_cidr(dev: StackRun) -> None:
    assert all(r.inputs["fromPort"] != 22 for r in dev.of_type(INGRESS))


def test_database_port_open_only_to_app_hosts(dev: StackRun) -> None:
    rules = _rules(dev, INGRESS, "database")
    assert rules == [
        {
            "securityGroupId": "network-database-sg-id",
            "ipProtocol": "tcp",
            "fromPort": 5433,
            "toPort": 5433,
            "description": "PostgreSQL from the app hosts only",
            "referencedSecurityGroupId": "network-hosts-sg-id",
        }
    ]


def test_endpoints_reachable_only_from_app_hosts(dev: StackRun) -> None:
    rules = _rules(dev, INGRESS, "endpoints")
    assert [(r["fromPort"], r.get("referencedSecurityGroupId"), r.get("cidrIpv4")) for r in rules] == [
        (443, "network-hosts-sg-id", None)
    ]


def test_security_groups_declare_no_inline_rules(dev: StackRun) -> None:
    # Inline rules would re-open AWS's default allow-all egress and bypass the rule resources above.
    for sg in dev.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not sg.inputs.get("ingress")
        assert not sg.inputs.get("egress")


def test_host_egress_limited_to_web_and_database(dev: StackRun) -> None:
    ports = sorted(r["fromPort"] for r in _rules(dev, EGRESS, "hosts"))
    assert ports == [80, 443, 5433]
