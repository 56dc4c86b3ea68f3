"""Security alerts reach an SNS topic Pulumi provisions: KMS-encrypted, fed by the app and an alarm."""

from __future__ import annotations

import json

from tests.harness import StackRun, key_arn, run_program, stack_config

TOPIC = "aws:sns/topic:Topic"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:alerts-topic"
ALARM_ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:soc2kit-dev-security-alert-logged"


def test_topic_is_encrypted_with_the_alerts_key_and_exported(dev: StackRun) -> None:
    (topic,) = dev.of_type(TOPIC)
    assert topic.inputs["name"] == "soc2kit-dev-security-alerts"
    assert topic.inputs["kmsMasterKeyId"] == key_arn("alerts")
    assert dev.exports["alerts_topic_arn"] == TOPIC_ARN


def test_topic_policy_admits_only_this_stacks_alarm_and_refuses_plain_http(dev: StackRun) -> None:
    (policy,) = dev.of_type("aws:sns/topicPolicy:TopicPolicy")
    assert policy.inputs["arn"] == TOPIC_ARN
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {
            "Sid": "ThisStacksAlarmPublishes",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": TOPIC_ARN,
            "Condition": {
                "ArnLike": {"aws:SourceArn": ALARM_ARN},
                "StringEquals": {"aws:SourceAccount": "123456789012"},
            },
        },
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": TOPIC_ARN,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]


def test_no_subscription_without_alert_email(dev: StackRun) -> None:
    assert not dev.of_type("aws:sns/topicSubscription:TopicSubscription")


def test_alert_email_is_subscribed() -> None:
    run = run_program(stack_config("dev") | {"soc2kit:alert_email": "security@acme.example"}, stack="mail")
    (subscription,) = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs == {
        "topic": TOPIC_ARN,
        "protocol": "email",
        "endpoint": "security@acme.example",
    }


def test_security_alert_lines_in_the_app_log_raise_an_alarm_on_the_topic(dev: StackRun) -> None:
    filters = dev.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    # The app's alerts, and the daily host checks' drift alerts (program soc2kit-daily-checks: system).
    assert sorted(f.inputs["logGroupName"] for f in filters) == ["/soc2kit/dev/app", "/soc2kit/dev/system"]
    for metric_filter in filters:
        assert metric_filter.inputs["pattern"] == '"SECURITY ALERT"'
        assert metric_filter.inputs["metricTransformation"] == {
            "name": "SecurityAlerts",
            "namespace": "soc2kit/dev",
            "value": "1",
            "unit": "Count",
        }
    (alarm,) = dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    inputs = alarm.inputs
    assert (inputs["namespace"], inputs["metricName"]) == ("soc2kit/dev", "SecurityAlerts")
    assert (inputs["statistic"], inputs["period"], inputs["evaluationPeriods"]) == ("Sum", 60, 1)
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert inputs["treatMissingData"] == "notBreaching"
    assert inputs["alarmActions"] == [TOPIC_ARN]
    assert inputs["name"] == "soc2kit-dev-security-alert-logged"


def test_the_filter_pattern_matches_what_the_app_logs() -> None:
    """packages/soc2kit/src/soc2kit/observability/alerts.py writes 'SECURITY ALERT <event>: <summary>'."""
    from pathlib import Path

    alerts = Path(__file__).resolve().parents[2] / "packages/soc2kit/src/soc2kit/observability/alerts.py"
    source = alerts.read_text()
    assert '"SECURITY ALERT %s: %s"' in source
