"""Wires the components together and exports what the Ansible inventory reads. No logic here."""

import pulumi_aws as aws
from components.alerts import Alerts
from components.app_secrets import HOST_SECRETS, AppSecrets
from components.audit_checkpoints import AuditCheckpointBucket
from components.aws_context import AwsContext
from components.database import Database
from components.hosts import Hosts
from components.identity import HostIdentity
from components.keys import Keys
from components.load_balancer import LoadBalancer
from components.logs import Logs
from components.network import Network
from components.ssm_transfer import SsmTransferBucket
from config import check_deploying_identity, load_config

import pulumi

caller = aws.get_caller_identity()
cfg = load_config(account_id=caller.account_id)  # raises before any resource is declared
check_deploying_identity(cfg, caller.arn)
ctx = AwsContext(
    account_id=caller.account_id,
    partition=aws.get_partition().partition,
    region=cfg.region,
    availability_zones=tuple(aws.get_availability_zones(state="available").names),
)

identity = HostIdentity("identity", cfg, ctx)
keys = Keys("keys", cfg, ctx, host_role_arn=identity.role.arn)
logs = Logs("logs", cfg, logs_key_arn=keys.keys["logs"].arn)
network = Network("network", cfg, ctx, flow_logs_group=logs.flow_logs_group)
database = Database(
    "database",
    cfg,
    ctx,
    subnet_ids=[s.id for s in network.private_subnets],
    security_group_id=network.database_sg.id,
    database_key_arn=keys.keys["database"].arn,
    secrets_key_arn=keys.keys["secrets"].arn,
    log_groups=list(logs.rds_groups.values()),
)
secrets = AppSecrets(
    "secrets",
    cfg,
    ctx,
    secrets_key_arn=keys.keys["secrets"].arn,
    host_role_arn=identity.role.arn,
    db_endpoint=database.instance.address,
    db_port=database.instance.port,
)
alerts = Alerts(
    "alerts",
    cfg,
    ctx,
    alerts_key_arn=keys.keys["alerts"].arn,
    app_log_group=logs.host_groups["app"],
    system_log_group=logs.host_groups["system"],
)
transfer = (
    SsmTransferBucket("ssm-transfer", cfg, ctx, transfer_key_arn=keys.keys["ssm_transfer"].arn)
    if cfg.ssm_only
    else None
)
audit_checkpoints = AuditCheckpointBucket("audit-checkpoints", cfg, ctx, audit_key_arn=keys.keys["audit"].arn)
hosts = Hosts(
    "hosts",
    cfg,
    ctx,
    role=identity.role,
    instance_profile=identity.instance_profile,
    subnet_ids=[s.id for s in network.host_subnets],
    security_group_id=network.hosts_sg.id,
    volumes_key_arn=keys.keys["volumes"].arn,
    secrets_key_arn=keys.keys["secrets"].arn,
    field_encryption_key_arn=keys.keys["field_encryption"].arn,
    # Not the owner's login: the deployer reads that one (components/app_secrets.py).
    secret_arns={name: secrets.secrets[name].arn for name in HOST_SECRETS},
    log_group_arns=[group.arn for group in logs.host_groups.values()],
    alerts_topic_arn=alerts.topic.arn,
    alerts_key_arn=keys.keys["alerts"].arn,
    transfer_bucket_arn=transfer.bucket.arn if transfer else None,
    transfer_key_arn=keys.keys["ssm_transfer"].arn if transfer else None,
    audit_checkpoint_bucket_arn=audit_checkpoints.bucket.arn,
    audit_key_arn=keys.keys["audit"].arn,
)

pulumi.export("region", cfg.region)
pulumi.export("ami_id", cfg.ami_id)
pulumi.export("alerts_topic_arn", alerts.topic.arn)
pulumi.export("environment", cfg.environment)
pulumi.export("app_name", cfg.app_name)
pulumi.export("vpc_id", network.vpc.id)
pulumi.export("app_host_ids", [host.id for host in hosts.instances])
pulumi.export("app_host_names", [f"{cfg.prefix}-app-{index + 1}" for index in range(cfg.host_count)])
pulumi.export("app_host_private_ips", [host.private_ip for host in hosts.instances])
if hosts.elastic_ips:  # hosts behind the load balancer have no public IP
    pulumi.export("app_host_public_ips", [eip.public_ip for eip in hosts.elastic_ips])
pulumi.export("app_host_role_arn", identity.role.arn)
# The inventory picks the connection from this: a CIDR means SSH, null means SSM through the bucket.
pulumi.export("ssh_admin_cidr", cfg.ssh_admin_cidr)
if transfer is not None:
    pulumi.export("ssm_bucket_name", transfer.bucket.bucket)
pulumi.export("db_endpoint", database.instance.address)
pulumi.export("db_port", database.instance.port)
pulumi.export("db_name", database.instance.db_name)
pulumi.export("db_app_username", cfg.db_app_username)
pulumi.export("db_owner_username", cfg.db_owner_username)
pulumi.export("db_admin_secret_arn", database.master_secret_arn)
pulumi.export("secret_arns", {name: secret.arn for name, secret in secrets.secrets.items()})
pulumi.export("kms_key_arns", {purpose: key.arn for purpose, key in keys.keys.items()})
pulumi.export("kms_key_aliases", {purpose: alias.name for purpose, alias in keys.aliases.items()})
pulumi.export("evidence_signing_key_arn", keys.signing_key.arn)
pulumi.export("log_group_names", {kind: group.name for kind, group in logs.host_groups.items()})
pulumi.export("audit_checkpoint_bucket", audit_checkpoints.bucket.bucket)
if cfg.multi_host:
    load_balancer = LoadBalancer(
        "edge",
        cfg,
        vpc_id=network.vpc.id,
        subnet_ids=[s.id for s in network.public_subnets],
        instances=hosts.instances,
    )
    pulumi.export("nlb_dns_name", load_balancer.nlb.dns_name)
    pulumi.export("acme_route53_zone_id", cfg.acme_route53_zone_id)
