"""VPC over at least two AZs, security groups, flow logs and the interface endpoints.

Public subnets hold a single host (with its Elastic IP: it is the web endpoint) or the load
balancer; they hand out no public IPs automatically. With several hosts, the hosts sit in private
app subnets behind the load balancer, without public IPs (FSBP EC2.9), and reach the internet
(Debian mirror, ACME) through a NAT gateway. The database subnets have no route to the internet.
Secrets, KMS, SSM and Logs traffic goes through VPC endpoints (CC6.6, CC6.7).
"""

from __future__ import annotations

import ipaddress
import json

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext

# Interface endpoints so that secret, key, session and log traffic never leaves the VPC.
INTERFACE_ENDPOINT_SERVICES = ("secretsmanager", "kms", "ssm", "ssmmessages", "ec2messages", "logs")
WORLD_V4 = "0.0.0.0/0"


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    app_subnets: list[aws.ec2.Subnet]
    nat_gateway: aws.ec2.NatGateway | None
    hosts_sg: aws.ec2.SecurityGroup
    database_sg: aws.ec2.SecurityGroup
    endpoints_sg: aws.ec2.SecurityGroup
    endpoints: dict[str, aws.ec2.VpcEndpoint]
    s3_endpoint: aws.ec2.VpcEndpoint
    flow_log: aws.ec2.FlowLog

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        flow_logs_group: aws.cloudwatch.LogGroup,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = ctx.availability_zones[: cfg.az_count]
        if len(zones) < 2:
            raise ValueError(
                f"region {ctx.region} offers {len(zones)} availability zone(s); at least 2 are needed"
            )

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # needed for private DNS of the interface endpoints
            tags={**cfg.tags, "Name": f"{cfg.prefix}-vpc"},
            opts=child,
        )
        # Lock the default security group: nothing may use it by accident (CIS 5.4, EC2.2).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg-locked",
            vpc_id=self.vpc.id,
            tags={**cfg.tags, "Name": f"{cfg.prefix}-default-locked"},
            opts=child,
        )

        # 16 blocks: 0-2 public, 4-6 app (several hosts only), 8-10 database and endpoints.
        blocks = list(ipaddress.IPv4Network(cfg.vpc_cidr).subnets(prefixlen_diff=4))
        self._app_route_tables: list[pulumi.Output[str]] = []
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=cfg.tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            tags={**cfg.tags, "Name": f"{cfg.prefix}-public"},
            opts=child,
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block=WORLD_V4,
            gateway_id=igw.id,
            opts=child,
        )
        # No internet route at all for the database subnets.
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=self.vpc.id,
            tags={**cfg.tags, "Name": f"{cfg.prefix}-private"},
            opts=child,
        )
        self.public_subnets = []
        self.private_subnets = []
        for index, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=str(blocks[index]),
                map_public_ip_on_launch=False,
                tags={**cfg.tags, "Name": f"{cfg.prefix}-public-{zone}", "Tier": "public"},
                opts=child,
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=str(blocks[8 + index]),
                map_public_ip_on_launch=False,
                tags={**cfg.tags, "Name": f"{cfg.prefix}-private-{zone}", "Tier": "private"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )
            self.public_subnets.append(public)
            self.private_subnets.append(private)

        self.app_subnets = []
        self.nat_gateway = None
        if cfg.multi_host:
            self._app_subnets(name, cfg, zones, blocks, public_rt, child)

        self._security_groups(name, cfg, child)
        self._flow_logs(name, cfg, ctx, flow_logs_group, child)

        self.endpoints = {
            service: aws.ec2.VpcEndpoint(
                f"{name}-endpoint-{service}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{ctx.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[self.endpoints_sg.id],
                tags={**cfg.tags, "Name": f"{cfg.prefix}-{service}"},
                opts=child,
            )
            for service in INTERFACE_ENDPOINT_SERVICES
        }
        # Free gateway endpoint: S3 traffic (SSM file transfer, package caches) stays on AWS's network.
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-endpoint-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{ctx.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[public_rt.id, private_rt.id, *self._app_route_tables],
            tags={**cfg.tags, "Name": f"{cfg.prefix}-s3"},
            opts=child,
        )
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "public_subnet_ids": [s.id for s in self.public_subnets],
                "private_subnet_ids": [s.id for s in self.private_subnets],
            }
        )

    def _app_subnets(
        self,
        name: str,
        cfg: StackConfig,
        zones: tuple[str, ...],
        blocks: list[ipaddress.IPv4Network],
        public_rt: aws.ec2.RouteTable,
        child: pulumi.ResourceOptions,
    ) -> None:
        """Private subnets for the hosts behind the load balancer; egress through one NAT gateway.

        One gateway, not one per zone: the hosts serve through the load balancer and reach AWS
        APIs through the VPC endpoints, so losing its zone only delays package updates and ACME
        renewals (which retry), for a third of the cost.
        """
        nat_ip = aws.ec2.Eip(
            f"{name}-nat-ip", domain="vpc", tags={**cfg.tags, "Name": f"{cfg.prefix}-nat"}, opts=child
        )
        self.nat_gateway = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=nat_ip.allocation_id,
            subnet_id=self.public_subnets[0].id,
            connectivity_type="public",
            tags={**cfg.tags, "Name": f"{cfg.prefix}-nat"},
            opts=child,
        )
        app_rt = aws.ec2.RouteTable(
            f"{name}-app-rt",
            vpc_id=self.vpc.id,
            tags={**cfg.tags, "Name": f"{cfg.prefix}-app"},
            opts=child,
        )
        aws.ec2.Route(
            f"{name}-app-default",
            route_table_id=app_rt.id,
            destination_cidr_block=WORLD_V4,
            nat_gateway_id=self.nat_gateway.id,
            opts=child,
        )
        self._app_route_tables.append(app_rt.id)
        for index, zone in enumerate(zones):
            subnet = aws.ec2.Subnet(
                f"{name}-app-{index}",
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=str(blocks[4 + index]),
                map_public_ip_on_launch=False,
                tags={**cfg.tags, "Name": f"{cfg.prefix}-app-{zone}", "Tier": "app"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-app-{index}", subnet_id=subnet.id, route_table_id=app_rt.id, opts=child
            )
            self.app_subnets.append(subnet)

    @property
    def host_subnets(self) -> list[aws.ec2.Subnet]:
        """Where the hosts go: private app subnets behind a load balancer, else the public ones."""
        return self.app_subnets or self.public_subnets

    def _security_groups(self, name: str, cfg: StackConfig, child: pulumi.ResourceOptions) -> None:
        def group(role: str, description: str) -> aws.ec2.SecurityGroup:
            # No inline rules: the provider then also removes AWS's default allow-all egress.
            return aws.ec2.SecurityGroup(
                f"{name}-{role}-sg",
                name=f"{cfg.prefix}-{role}",
                description=description,
                vpc_id=self.vpc.id,
                tags={**cfg.tags, "Name": f"{cfg.prefix}-{role}"},
                opts=child,
            )

        self.hosts_sg = group(
            "hosts", "App hosts: HTTP/HTTPS from anywhere (TLS on host), SSH only from the admin CIDR"
        )
        self.database_sg = group("database", "PostgreSQL: only from the app hosts")
        self.endpoints_sg = group("endpoints", "VPC interface endpoints: HTTPS from the app hosts")

        def ingress(
            rule: str,
            sg: aws.ec2.SecurityGroup,
            port: int,
            description: str,
            cidr_ipv4: str | None = None,
            referenced_security_group_id: pulumi.Input[str] | None = None,
        ) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=description,
                cidr_ipv4=cidr_ipv4,
                referenced_security_group_id=referenced_security_group_id,
                opts=child,
            )

        def egress(
            rule: str,
            sg: aws.ec2.SecurityGroup,
            port: int,
            description: str,
            cidr_ipv4: str | None = None,
            referenced_security_group_id: pulumi.Input[str] | None = None,
        ) -> None:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{rule}",
                security_group_id=sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=description,
                cidr_ipv4=cidr_ipv4,
                referenced_security_group_id=referenced_security_group_id,
                opts=child,
            )

        ingress("hosts-in-http", self.hosts_sg, 80, "HTTP (redirect to HTTPS, ACME)", cidr_ipv4=WORLD_V4)
        ingress("hosts-in-https", self.hosts_sg, 443, "HTTPS, TLS terminated on the host", cidr_ipv4=WORLD_V4)
        if cfg.ssh_admin_cidr is not None:
            ingress(
                "hosts-in-ssh-admin",
                self.hosts_sg,
                22,
                "SSH from the admin network only",
                cidr_ipv4=cfg.ssh_admin_cidr,
            )
        egress("hosts-out-http", self.hosts_sg, 80, "Debian package mirror", cidr_ipv4=WORLD_V4)
        egress("hosts-out-https", self.hosts_sg, 443, "ACME, AWS APIs, package mirror", cidr_ipv4=WORLD_V4)
        egress(
            "hosts-out-postgres",
            self.hosts_sg,
            cfg.db_port,
            "PostgreSQL",
            referenced_security_group_id=self.database_sg.id,
        )
        ingress(
            "database-in-postgres",
            self.database_sg,
            cfg.db_port,
            "PostgreSQL from the app hosts only",
            referenced_security_group_id=self.hosts_sg.id,
        )
        ingress(
            "endpoints-in-https",
            self.endpoints_sg,
            443,
            "AWS APIs from the app hosts",
            referenced_security_group_id=self.hosts_sg.id,
        )

    def _flow_logs(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        group: aws.cloudwatch.LogGroup,
        child: pulumi.ResourceOptions,
    ) -> None:
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            name=cfg.iam_role_name("vpc-flow-logs"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                        }
                    ],
                }
            ),
            tags=cfg.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Resource": [group.arn, pulumi.Output.concat(group.arn, ":log-stream:*")],
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=cfg.tags,
            opts=child,
        )
