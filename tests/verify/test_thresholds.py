"""thresholds.yml: the shipped file loads; a bad value fails before any check, naming the key."""

from __future__ import annotations

import pytest
import yaml
from kit import KitError
from kit.verify import thresholds


def test_shipped_thresholds_load(limits):
    assert limits.lynis_min_hardening_index == 80
    assert limits.observatory_min_grade == "A+"
    assert limits.units("nginx")["django-app.service"] == 2.0
    assert set(limits.testssl_exceptions) == {"cipher_order", "cert_revocation"}


def _write(tmp_path, **changes):
    data = yaml.safe_load(thresholds.DEFAULT_FILE.read_text())
    data.update(changes)
    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"lynis_min_hardening_index": 180}, "lynis_min_hardening_index"),
        ({"lynis_min_hardening_index": "80"}, "lynis_min_hardening_index"),
        ({"observatory_min_grade": "A++"}, "observatory_min_grade"),
        ({"testssl_failing_severities": ["SEVERE"]}, "testssl_failing_severities"),
        ({"testssl_exceptions": {"cipher_order": "now in exceptions.yml"}}, "testssl_exceptions"),
        ({"certificate_min_days_left": 0}, "certificate_min_days_left"),
        (
            {"systemd_max_exposure": {"app": {"django-app": 2.0}, "web": {}, "log_shipping": {}}},
            "systemd_max_exposure",
        ),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_bad_values_are_named(tmp_path, changes, named):
    with pytest.raises(KitError, match=named):
        thresholds.load(_write(tmp_path, **changes))


def test_exposure_above_ten_is_refused(tmp_path):
    data = yaml.safe_load(thresholds.DEFAULT_FILE.read_text())
    data["systemd_max_exposure"]["app"]["django-app.service"] = 11
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(KitError, match=r"systemd_max_exposure\.app\.django-app\.service"):
        thresholds.load(path)


def _exceptions(tmp_path, entries):
    path = tmp_path / "exceptions.yml"
    path.write_text(yaml.safe_dump(entries))
    return path


ENTRY = {
    "control": "testssl",
    "finding": "cipher_order",
    "reason": "clients choose",
    "owner": "security lead",
    "expires": "2099-01-01",
}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"owner": ""}, "entry 1.owner"),
        ({"expires": "soon"}, "entry 1.expires"),
        ({"reason": None}, "entry 1.reason"),
    ],
)
def test_an_exception_without_reason_owner_or_date_is_refused(tmp_path, change, named):
    from datetime import date

    from kit.verify import exceptions

    path = _exceptions(tmp_path, [{**ENTRY, **change, "expires": change.get("expires", "2027-01-01")}])
    with pytest.raises(KitError, match=named.replace(".", r"\.")):
        exceptions.load(path, today=date(2026, 12, 1))


def test_an_exception_may_not_run_for_more_than_a_year(tmp_path):
    from datetime import date

    from kit.verify import exceptions

    with pytest.raises(KitError, match="more than 366 days ahead"):
        exceptions.load(_exceptions(tmp_path, [ENTRY]), today=date(2026, 12, 1))


def test_an_expired_exception_excuses_nothing(tmp_path):
    from datetime import date

    from kit.verify import exceptions

    items = exceptions.load(
        _exceptions(tmp_path, [{**ENTRY, "expires": "2026-11-30"}]), today=date(2026, 11, 1)
    )
    assert exceptions.active_findings(items, "testssl", date(2026, 11, 30)) != {}
    assert exceptions.active_findings(items, "testssl", date(2026, 12, 1)) == {}
    limits = thresholds.load(
        thresholds.DEFAULT_FILE, _exceptions(tmp_path, [{**ENTRY, "expires": "2020-01-01"}])
    )
    assert limits.testssl_exceptions == {}
    assert limits.exceptions[0].finding == "cipher_order"
