"""Multi-host: NLB passes TCP 80/443 through to every host, TLS stays on the hosts."""

from __future__ import annotations

from tests.harness import StackRun, run_program, stack_config


def test_single_host_has_no_load_balancer(dev: StackRun) -> None:
    assert not dev.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert "nlb_dns_name" not in dev.exports


def test_multi_host_nlb_is_internet_facing_network_lb_over_all_zones(prod: StackRun) -> None:
    (nlb,) = prod.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert nlb.inputs["loadBalancerType"] == "network"
    assert nlb.inputs["internal"] is False
    assert len(nlb.inputs["subnets"]) == 3
    assert nlb.inputs["enableDeletionProtection"] is True


def test_listeners_pass_tcp_through_without_terminating_tls(prod: StackRun) -> None:
    listeners = prod.of_type("aws:lb/listener:Listener")
    assert sorted((lst.inputs["port"], lst.inputs["protocol"]) for lst in listeners) == [
        (80, "TCP"),
        (443, "TCP"),
    ]
    assert all("certificateArn" not in lst.inputs for lst in listeners)


def test_every_host_is_a_target_on_both_ports(prod: StackRun) -> None:
    attachments = prod.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    hosts = sorted(h.id for h in prod.of_type("aws:ec2/instance:Instance"))
    for port in (80, 443):
        assert sorted(a.inputs["targetId"] for a in attachments if a.inputs["port"] == port) == hosts


def test_load_balancing_names_are_distinct_and_valid(prod: StackRun) -> None:
    (nlb,) = prod.of_type("aws:lb/loadBalancer:LoadBalancer")
    groups = sorted(g.inputs["name"] for g in prod.of_type("aws:lb/targetGroup:TargetGroup"))
    assert nlb.inputs["name"] == "soc2kit-prod-nlb"
    assert groups == ["soc2kit-prod-tcp-443", "soc2kit-prod-tcp-80"]


def test_long_app_name_keeps_three_distinct_names_within_32_characters() -> None:
    """A 31-character app name used to give the NLB and both target groups one name ending in '-'."""
    config = stack_config("prod") | {"soc2kit:app_name": "abcdefghijklmnopqrstuvwxyz01234"}
    run = run_program(config, stack="prod")
    names = [r.inputs["name"] for r in run.of_type("aws:lb/loadBalancer:LoadBalancer")]
    names += [r.inputs["name"] for r in run.of_type("aws:lb/targetGroup:TargetGroup")]
    assert len(set(names)) == 3
    assert all(len(n) <= 32 and not n.endswith("-") and "--" not in n for n in names), names
