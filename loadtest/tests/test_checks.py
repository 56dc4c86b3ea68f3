"""The load test's judgement of answers: a wrong value or a leaked full value must fail the request."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from checks import (
    SearchPacer,
    full_value_leaks,
    full_view_problems,
    login_failure,
    mask_email,
    mask_name,
    mask_national_id,
    masked_view_problems,
    new_customer,
    search_failure,
    unknown_record_masked_problems,
)


@pytest.fixture
def written():
    return new_customer("run1", 7, random.Random(1))


def full_answer(written):
    return {"id": 1, "masked": False, **written}


def masked_answer(written):
    return {
        "id": 1,
        "masked": True,
        "full_name": mask_name(written["full_name"]),
        "email": mask_email(written["email"]),
        "national_id": mask_national_id(written["national_id"]),
    }


def test_new_customer_is_valid_for_the_api_and_unique(written):
    other = new_customer("run1", 8, random.Random(2))
    assert written["email"] != other["email"]
    assert written["email"].endswith("@example.com")
    assert 4 <= len(written["national_id"]) <= 32


def test_masks_match_the_documented_forms():
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_national_id("LT-1234-56789") == "****6789"
    assert mask_name("Ada Lovelace") == "A*** L***"


def test_full_view_equal_to_written_passes(written):
    assert full_view_problems(written, full_answer(written)) == []


@pytest.mark.parametrize("field", ["full_name", "email", "national_id", "date_of_birth", "notes"])
def test_full_view_with_a_changed_value_fails_naming_the_field(written, field):
    answer = full_answer(written) | {field: "something else"}
    assert full_view_problems(written, answer) == [f"{field} read back differs from the value written"]


def test_full_view_that_is_masked_fails(written):
    assert full_view_problems(written, masked_answer(written))


def test_masked_answer_passes(written):
    answer = masked_answer(written)
    assert masked_view_problems(written, answer, json.dumps(answer)) == []


@pytest.mark.parametrize("field", ["full_name", "email", "national_id"])
def test_masked_answer_with_a_full_value_fails(written, field):
    answer = masked_answer(written) | {field: written[field]}
    problems = masked_view_problems(written, answer, json.dumps(answer))
    assert f"{field} is not the masked form" in problems
    assert f"full value of {field} leaked to the masked role" in problems


@pytest.mark.parametrize("field", ["notes", "date_of_birth"])
def test_masked_answer_carrying_hidden_fields_fails(written, field):
    answer = masked_answer(written) | {field: written[field]}
    problems = masked_view_problems(written, answer, json.dumps(answer))
    assert f"{field} present in a masked answer" in problems


def test_leak_anywhere_in_the_body_is_found_case_insensitively(written):
    body = json.dumps({"results": [masked_answer(written)], "debug": written["email"].upper()})
    assert full_value_leaks(written, body) == ["full value of email leaked to the masked role"]


def test_problem_messages_never_contain_values(written):
    answer = {"masked": False, **written}
    text = " ".join(masked_view_problems(written, answer, json.dumps(answer)))
    for value in written.values():
        assert str(value) not in text


def test_unknown_record_in_a_masked_listing():
    good = {"masked": True, "email": "a***@example.com", "national_id": "****6789", "full_name": "A***"}
    assert unknown_record_masked_problems(good) == []
    assert unknown_record_masked_problems(good | {"email": "alice@example.com"})
    assert unknown_record_masked_problems(good | {"national_id": "LT123456789"})
    assert unknown_record_masked_problems(good | {"notes": "x"})
    assert unknown_record_masked_problems(good | {"masked": False})


def test_rate_limited_login_says_to_wait_a_minute():
    assert login_failure("customer_writer", 403) == "login of the customer_writer user answered 403"
    message = login_failure("customer_writer", 429)
    assert message.startswith("login of the customer_writer user answered 429 (")
    assert "rate limit" in message
    assert "wait 60 s" in message


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_search_pacer_lets_through_at_most_the_rate_evenly_spaced():
    clock = FakeClock()
    pacer = SearchPacer(4, clock=clock)
    allowed = []
    for _ in range(600):  # one attempt every 0.5 s for 5 minutes, as a closed loop of editors would
        if pacer.due():
            allowed.append(clock.now)
        clock.now += 0.5
    assert len(allowed) == 20
    assert {b - a for a, b in itertools.pairwise(allowed)} == {15.0}
    # Within any one minute of the app's fixed windows, at most 4: two runs back to back stay at 8 of 10.
    assert max(sum(1 for t in allowed if start <= t < start + 60) for start in range(1000, 1300)) == 4


def test_search_pacer_at_zero_never_searches_and_bad_rates_are_refused():
    assert not SearchPacer(0, clock=FakeClock()).due()
    with pytest.raises(ValueError, match=r"use 0 \(no search\) to 60"):
        SearchPacer(61)


def test_rate_limited_search_names_the_setting_to_lower():
    assert search_failure(400) == "search answered 400"
    message = search_failure(429)
    assert "DJANGO_CUSTOMER_SEARCH_RATE_LIMIT" in message
    assert "LOADTEST_SEARCHES_PER_MINUTE" in message
