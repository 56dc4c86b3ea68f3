"""Security alerts to an AWS SNS topic: the alert handler on AWS, where the hosts have no mail server.

Selected with DJANGO_ALERT_HANDLER_CLASS=soc2kit.observability.sns.SnsAlertHandler; the topic is
DJANGO_ALERT_SNS_TOPIC_ARN (settings.ALERT_SNS_TOPIC_ARN; the django_app role writes both from the
stack's `alerts_topic_arn` output). The topic's subscriptions (e-mail, a pager, a queue) deliver the alert.
The records arrive through the redaction filter, like every other handler's.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")
# SNS limits the subject to 100 printable ASCII characters, without line breaks.
_SUBJECT_LIMIT = 100


class SnsAlertHandler(logging.Handler):
    """Publishes each record to the topic: a short subject and a JSON body (event, message, details)."""

    def __init__(self, topic_arn: str | None = None, level: int = logging.NOTSET, client: Any = None) -> None:
        super().__init__(level)
        arn = settings.ALERT_SNS_TOPIC_ARN if topic_arn is None else topic_arn
        match = _TOPIC_ARN.match(arn or "")
        if match is None:
            raise ImproperlyConfigured(
                f"DJANGO_ALERT_SNS_TOPIC_ARN={arn!r} is not an SNS topic ARN "
                "(arn:aws:sns:REGION:ACCOUNT:NAME); set it to the stack's alerts_topic_arn output, "
                "or choose another DJANGO_ALERT_HANDLER_CLASS."
            )
        self.topic_arn = arn
        self.region = match["region"]
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns", region_name=self.region)
        return self._client

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            event = str(getattr(record, "alert_event", record.levelname))
            body = {
                "event": event,
                "message": message,
                "details": getattr(record, "alert_details", {}),
                "logger": record.name,
                "level": record.levelname,
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "host": socket.gethostname(),
            }
            subject = f"{settings.EMAIL_SUBJECT_PREFIX}SECURITY ALERT {event}"
            subject = "".join(c if " " <= c <= "~" else " " for c in subject)[:_SUBJECT_LIMIT]
            self.client.publish(
                TopicArn=self.topic_arn,
                Subject=subject,
                Message=json.dumps(body, default=str, sort_keys=True),
            )
        except Exception:  # logging must never break the request: report on stderr, as logging does
            self.handleError(record)
