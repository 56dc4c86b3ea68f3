"""Where security alerts go on AWS: an SNS topic encrypted with the alerts key (CC7.2, CC7.3).

Two ways in: the app publishes each alert itself (the hosts' role may `sns:Publish` to this topic
only), and metric filters count `SECURITY ALERT` lines in the app's log group and in the system log
group (the hosts' daily checks raise their drift alerts there), whose alarm notifies the topic, so an
alert still arrives when the app's own publishing fails. `alert_email`
subscribes an address (AWS mails a confirmation link first).
"""

from __future__ import annotations

import pulumi_aws as aws
from config import StackConfig

import pulumi
from components.aws_context import AwsContext

# The prefix packages/soc2kit/src/soc2kit/observability/alerts.py writes; the quotes make it one exact term.
ALERT_LOG_PATTERN = '"SECURITY ALERT"'
METRIC_NAME = "SecurityAlerts"


class Alerts(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarm: aws.cloudwatch.MetricAlarm

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        alerts_key_arn: pulumi.Input[str],
        app_log_group: aws.cloudwatch.LogGroup,
        system_log_group: aws.cloudwatch.LogGroup | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("soc2kit:index:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=cfg.alerts_topic_name,
            display_name=f"{cfg.app_name} {cfg.stack} security alerts",
            kms_master_key_id=alerts_key_arn,
            tags=cfg.tags,
            opts=child,
        )
        alarm_name = f"{cfg.prefix}-security-alert-logged"
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ThisStacksAlarmPublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": self.topic.arn,
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": ctx.arn("cloudwatch", f"alarm:{alarm_name}")},
                                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                            },
                        },
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": self.topic.arn,
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                }
            ),
            opts=child,
        )
        if cfg.alert_email is not None:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=cfg.alert_email,
                opts=child,
            )
        namespace = f"{cfg.app_name}/{cfg.stack}"
        # The app's own alerts, and the daily host checks' drift alerts (soc2kit-daily-checks, routed to the
        # system group by the log shipper): one metric, one alarm.
        watched = {"": app_log_group, "-system": system_log_group}
        for suffix, group in watched.items():
            if group is None:
                continue
            aws.cloudwatch.LogMetricFilter(
                f"{name}-security-alert-lines{suffix}",
                name=f"{cfg.prefix}-security-alert-lines{suffix}",
                log_group_name=group.name,
                pattern=ALERT_LOG_PATTERN,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=METRIC_NAME, namespace=namespace, value="1", unit="Count"
                ),
                opts=child,
            )
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-security-alert-logged",
            name=alarm_name,
            alarm_description=(
                f"A SECURITY ALERT line in {cfg.log_group_prefix}/app or /system: read the log groups"
            ),
            namespace=namespace,
            metric_name=METRIC_NAME,
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            # No alert lines is the normal state, not "insufficient data".
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            tags=cfg.tags,
            opts=child,
        )
        self.register_outputs({"topic_arn": self.topic.arn})
