"""Security alerts: a WARNING on the ``soc2kit.alerts`` logger, which settings route to stdout and to
the alert handler (DJANGO_ALERT_HANDLER_CLASS, default: mail to ADMINS)."""

import logging

logger = logging.getLogger("soc2kit.alerts")


def raise_alert(event: str, summary: str, **details: object) -> None:
    """``summary`` must not contain secrets or personal data (the redaction filter is the safety net)."""
    logger.warning(
        "SECURITY ALERT %s: %s", event, summary, extra={"alert_event": event, "alert_details": details}
    )
