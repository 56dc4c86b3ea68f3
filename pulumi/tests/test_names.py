"""Every name the program derives is one AWS accepts, for any app_name and stack name config allows.

The rules live once, in config.NAME_RULES / valid_name. The first tests pin those rules to written
examples from AWS's documentation; the last ones walk the edges of what config accepts (hypothesis
is not in the environment, so the edges are enumerated: shortest, longest, hyphen positions, every
reserved prefix) and check every derived name against the rules, and the load balancer names for
uniqueness.
"""

from __future__ import annotations

import itertools

import pytest
from config import ConfigError, StackConfig, fit_name, parse_config, valid_name

from tests.harness import ACCOUNT_ID, DEPLOYER_ROLE_ARN

# (kind, name, AWS accepts it)
WRITTEN_EXAMPLES = [
    ("rds_instance", "soc2kit-dev-db", True),
    ("rds_instance", "ab--dev-db", False),  # today's result for app_name "ab-"
    ("rds_instance", "soc2kit-dev-db-", False),
    ("rds_instance", "1soc2kit-db", False),
    ("rds_instance", "a" * 63, True),
    ("rds_instance", "a" * 64, False),
    ("rds_snapshot", "soc2kit-dev-db-final-0a1b2c3d", True),
    ("rds_snapshot", "soc2kit-dev-db-final-", False),
    ("elb", "soc2kit-prod-nlb", True),
    ("elb", "a" * 32, True),
    ("elb", "a" * 33, False),
    ("elb", "abcdefghijklmnopqrstuvwxyz01234-", False),  # today's 31-character app name, cut at 32
    ("elb", "-nlb", False),
    ("elb", "internal-nlb", False),
    ("elb", "a--b", False),
    ("s3", "soc2kit-dev-ssm-123456789012-eu-west-1", True),
    ("s3", "soc2kit-Prod_1-ssm-123456789012-eu-west-1", False),  # today's result for stack Prod_1
    ("s3", "ab", False),
    ("s3", "a" * 63, True),
    ("s3", "a" * 64, False),
    ("s3", "sthree-dev-ssm", False),
    ("s3", "xn--dev-ssm", False),
    ("s3", "amzn-s3-demo-ssm", False),
    ("s3", "dev-ssm-s3alias", False),
    ("s3", "dev-ssm--ol-s3", False),
    ("s3", "192.168.1.1", False),
    ("s3", "a..b", False),
    ("s3", "dev-ssm-", False),
    ("iam_role", "soc2kit-dev-app-host", True),
    ("iam_role", "a" * 64, True),
    ("iam_role", "a" * 65, False),
    ("sns_topic", "soc2kit-dev-security-alerts", True),
    ("sns_topic", "soc2kit/dev", False),
    ("kms_alias", "alias/soc2kit-dev-logs", True),
    ("kms_alias", "soc2kit-dev-logs", False),
    ("log_group", "/soc2kit/dev/app", True),
    ("secret", "soc2kit/dev/django_secret_key-", True),
    ("secret", "soc2kit/dev/key with space", False),
]


@pytest.mark.parametrize(("kind", "name", "accepted"), WRITTEN_EXAMPLES)
def test_naming_rules_match_written_examples(kind: str, name: str, accepted: bool) -> None:
    assert valid_name(kind, name) is accepted


def test_long_name_is_shortened_with_a_hash_and_keeps_its_suffix() -> None:
    base = "abcdefghijklmnopqrstuvwxyz01234-prod"
    name = fit_name("elb", base, "tcp-443")
    assert len(name) == 32
    assert name.endswith("-tcp-443")
    assert valid_name("elb", name)
    assert fit_name("elb", "abcdefghijklmnopqrstuvwxyz01234-prof", "tcp-443") != name
    assert fit_name("elb", "soc2kit-prod", "nlb") == "soc2kit-prod-nlb"  # short names stay readable


def parse(app_name: str, stack: str, environment: str = "dev") -> StackConfig:
    raw = {
        "environment": environment,
        "app_name": app_name,
        "ami_id": "ami-0123abcd",
        "deployer_role_arn": DEPLOYER_ROLE_ARN,
        "acme_route53_zone_id": "Z0123456789ABC",
    }
    return parse_config(raw, project="soc2kit", stack=stack, region="ap-southeast-4", account_id=ACCOUNT_ID)


# Edges of the allowed app and stack names: 2 and 31 characters, hyphens early and late, digits,
# names that start like S3's reserved prefixes, environment words.
NAME_EDGES = [
    "ab",
    "a1",
    "a-b",
    "a" * 31,
    "a" * 29 + "-b",
    "a-" + "b" * 29,
    "ab-" * 9 + "abcd",
    "abcdefghijklmnopqrstuvwxyz01234",
    "sthree",
    "xn",
    "amzn-s3-demo",
    "prod",
    "s3alias",
]


@pytest.mark.parametrize(("app_name", "stack"), list(itertools.product(NAME_EDGES, NAME_EDGES)))
def test_every_derived_name_is_valid_or_config_refuses_the_pair(app_name: str, stack: str) -> None:
    environment = "prod" if "prod" in stack.split("-") else "dev"
    if app_name.startswith(("sthree", "amzn-s3-demo")):
        # S3 reserves these bucket prefixes: config refuses the pair, naming the key to change.
        with pytest.raises(ConfigError, match=rf"from soc2kit:app_name '{app_name}' and stack '{stack}'"):
            parse(app_name, stack, environment)
        return
    cfg = parse(app_name, stack, environment)
    names = cfg.derived_names(ACCOUNT_ID)
    for label, (kind, name) in names.items():
        assert valid_name(kind, name), f"{label} {name!r} is not a valid {kind} name"
    load_balancing = [
        names[label][1] for label in ("load balancer", "target group (80)", "target group (443)")
    ]
    assert len(set(load_balancing)) == 3, load_balancing


def test_thirty_one_character_app_name_gives_three_distinct_load_balancing_names() -> None:
    cfg = parse("abcdefghijklmnopqrstuvwxyz01234", "prod", "prod")
    names = [cfg.nlb_name, cfg.target_group_name(80), cfg.target_group_name(443)]
    assert len(set(names)) == 3
    assert all(len(n) <= 32 and not n.endswith("-") and "--" not in n for n in names)


def test_sthree_app_name_is_refused_with_the_bucket_name() -> None:
    with pytest.raises(
        ConfigError, match=r"SSM transfer bucket 'sthree-dev-ssm-.*' \(from soc2kit:app_name 'sthree'"
    ):
        parse("sthree", "dev")
