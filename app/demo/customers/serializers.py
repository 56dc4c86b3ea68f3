"""Customer <-> JSON: input validation (clear 400 messages that never echo the value) and output in
full or masked form. The masked form is what the customer_reader_masked role sees."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .models import Customer

WRITABLE_FIELDS = ("full_name", "email", "national_id", "date_of_birth", "notes")
REQUIRED_FIELDS = ("full_name", "email", "national_id")
NATIONAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{2,30}[A-Za-z0-9]$")
MAX_NOTES = 10_000


def _string(value: Any, name: str, max_length: int, errors: dict[str, list[str]]) -> str | None:
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return None
    value = value.strip()
    if name != "notes" and not value:
        errors[name] = ["Must not be empty."]
        return None
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
        return None
    return value


def validate_customer_input(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Return the cleaned values, or raise CustomerInputError with every problem found."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - set(WRITABLE_FIELDS))
    for name in unknown:
        errors[name[:64]] = [f"Unknown field; allowed fields are {', '.join(WRITABLE_FIELDS)}."]
    if not partial:
        for name in REQUIRED_FIELDS:
            if name not in data:
                errors[name] = ["This field is required."]
    cleaned: dict[str, Any] = {}
    if "full_name" in data:
        cleaned["full_name"] = _string(data["full_name"], "full_name", 200, errors)
    if "email" in data:
        email = _string(data["email"], "email", 254, errors)
        if email is not None:
            try:
                validate_email(email)
                cleaned["email"] = email
            except ValidationError:
                errors["email"] = ["Enter a valid e-mail address."]
    if "national_id" in data:
        national_id = _string(data["national_id"], "national_id", 32, errors)
        if national_id is not None:
            if NATIONAL_ID_PATTERN.match(national_id):
                cleaned["national_id"] = national_id
            else:
                errors["national_id"] = ["Use 4-32 letters, digits, spaces or dashes."]
    if "date_of_birth" in data:
        value = data["date_of_birth"]
        if value is None:
            cleaned["date_of_birth"] = None
        elif not isinstance(value, str):
            errors["date_of_birth"] = ["Must be a date string YYYY-MM-DD or null."]
        else:
            try:
                parsed = datetime.date.fromisoformat(value)
            except ValueError:
                errors["date_of_birth"] = ["Must be a date in the form YYYY-MM-DD."]
            else:
                if parsed > datetime.date.today() or parsed.year < 1900:
                    errors["date_of_birth"] = ["Must be between 1900-01-01 and today."]
                else:
                    cleaned["date_of_birth"] = parsed
    if "notes" in data:
        cleaned["notes"] = _string(data["notes"], "notes", MAX_NOTES, errors)
    if errors:
        raise CustomerInputError(errors)
    return cleaned


class CustomerInputError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid customer input")
        self.errors = errors


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_national_id(national_id: str) -> str:
    compact = re.sub(r"[\s-]", "", national_id)
    return "****" + compact[-4:] if len(compact) > 4 else "****"


def mask_name(full_name: str) -> str:
    return " ".join(f"{word[:1]}***" for word in full_name.split())


def serialize(customer: Customer, *, full: bool) -> dict[str, Any]:
    common = {
        "id": customer.pk,
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
    }
    if full:
        return {
            **common,
            "masked": False,
            "full_name": customer.full_name,
            "email": customer.email,
            "national_id": customer.national_id,
            "date_of_birth": customer.date_of_birth.isoformat() if customer.date_of_birth else None,
            "notes": customer.notes,
        }
    return {
        **common,
        "masked": True,
        "full_name": mask_name(customer.full_name),
        "email": mask_email(customer.email),
        "national_id": mask_national_id(customer.national_id),
    }
