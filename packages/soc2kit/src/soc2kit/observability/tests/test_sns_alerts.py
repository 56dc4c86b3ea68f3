"""On AWS, security alerts are published to the stack's SNS topic (moto: a queue subscribed to the topic
receives the alert), selected through DJANGO_ALERT_HANDLER_CLASS like any other alert handler."""

from __future__ import annotations

import copy
import json
import logging
import logging.config
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from moto import mock_aws

from soc2kit.observability.alerts import raise_alert
from soc2kit.observability.sns import SnsAlertHandler

REGION = "eu-west-1"
EMAIL = "jane.doe@example.com"


@pytest.fixture
def topic_and_queue(monkeypatch):
    """An SNS topic with an SQS queue subscribed (raw delivery off: the queue gets SNS's envelope)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="soc2kit-prod-security-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

        def received() -> list[dict]:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(message["Body"]) for message in messages]

        yield topic_arn, received


@pytest.fixture
def alert_handler_class():
    """Configures logging from the real settings.LOGGING with the alert handler class swapped, the way
    DJANGO_ALERT_HANDLER_CLASS does it; restores the configured logging after the test."""

    def configure(class_path: str) -> None:
        config: dict[str, Any] = copy.deepcopy(settings.LOGGING)
        config["handlers"]["alert"]["class"] = class_path
        logging.config.dictConfig(config)

    yield configure
    logging.config.dictConfig(settings.LOGGING)


def test_one_alert_arrives_in_the_topic_redacted(topic_and_queue, alert_handler_class):
    topic_arn, received = topic_and_queue
    with override_settings(ALERT_SNS_TOPIC_ARN=topic_arn):
        alert_handler_class("soc2kit.observability.sns.SnsAlertHandler")
        raise_alert("lockout", f"client 203.0.113.9 locked out trying {EMAIL}", audit_id=3, email=EMAIL)

    (envelope,) = received()
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "[soc2kit] SECURITY ALERT lockout"
    alert = json.loads(envelope["Message"])
    assert alert["event"] == "lockout"
    assert alert["level"] == "WARNING"
    assert alert["logger"] == "soc2kit.alerts"
    assert alert["message"].startswith(
        "SECURITY ALERT lockout: client 203.0.113.9 locked out trying [REDACTED]"
    )
    assert alert["details"] == {"audit_id": 3, "email": "[REDACTED]"}
    assert EMAIL not in envelope["Message"]


def test_only_warnings_of_the_alert_logger_are_published(topic_and_queue, alert_handler_class):
    topic_arn, received = topic_and_queue
    with override_settings(ALERT_SNS_TOPIC_ARN=topic_arn):
        alert_handler_class("soc2kit.observability.sns.SnsAlertHandler")
        logging.getLogger("soc2kit.alerts").info("not an alert")
        logging.getLogger("soc2kit.test").error("an error, but not a security alert")
    assert received() == []


@pytest.mark.parametrize("bad", ["", "arn:aws:sqs:eu-west-1:123456789012:queue", "soc2kit-alerts"])
def test_the_sns_handler_refuses_to_start_without_a_topic_arn(bad):
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_ALERT_SNS_TOPIC_ARN=.* is not an SNS topic ARN"):
        SnsAlertHandler(topic_arn=bad)


def test_a_failed_publish_does_not_break_the_caller(capsys):
    class Unreachable:
        def publish(self, **kwargs):
            raise ConnectionError("endpoint unreachable")

    handler = SnsAlertHandler(topic_arn="arn:aws:sns:eu-west-1:123456789012:alerts", client=Unreachable())
    record = logging.LogRecord(
        "soc2kit.alerts", logging.WARNING, __file__, 1, "SECURITY ALERT x: y", None, None
    )
    handler.handle(record)  # logging.raiseExceptions reports on stderr and returns
    assert "endpoint unreachable" in capsys.readouterr().err
