"""Network Load Balancer for more than one host: TCP 80/443 pass through, TLS stays on the hosts.

Certificates are then issued with DNS-01 against the configured Route53 zone (see Hosts' role policy).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_aws as aws
from config import StackConfig

import pulumi

PASS_THROUGH_PORTS = (80, 443)


class LoadBalancer(pulumi.ComponentResource):
    nlb: aws.lb.LoadBalancer

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        *,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        instances: Sequence[aws.ec2.Instance],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.nlb = aws.lb.LoadBalancer(
            f"{name}-nlb",
            name=cfg.nlb_name,
            load_balancer_type="network",
            internal=False,
            subnets=list(subnet_ids),
            enable_cross_zone_load_balancing=True,
            # Teardown turns this off first (pulumi/README.md, "Teardown").
            enable_deletion_protection=cfg.environment == "prod",
            tags=cfg.tags,
            opts=child,
        )
        for port in PASS_THROUGH_PORTS:
            target_group = aws.lb.TargetGroup(
                f"{name}-tcp-{port}",
                name=cfg.target_group_name(port),
                port=port,
                protocol="TCP",
                target_type="instance",
                vpc_id=vpc_id,
                preserve_client_ip="true",  # nginx/Apache log the real client address
                health_check=aws.lb.TargetGroupHealthCheckArgs(protocol="TCP", port=str(port), interval=10),
                tags=cfg.tags,
                opts=child,
            )
            aws.lb.Listener(
                f"{name}-tcp-{port}",
                load_balancer_arn=self.nlb.arn,
                port=port,
                protocol="TCP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
                ],
                tags=cfg.tags,
                opts=child,
            )
            for index, instance in enumerate(instances):
                aws.lb.TargetGroupAttachment(
                    f"{name}-tcp-{port}-app-{index + 1}",
                    target_group_arn=target_group.arn,
                    target_id=instance.id,
                    port=port,
                    opts=child,
                )
        self.register_outputs({"dns_name": self.nlb.dns_name})
