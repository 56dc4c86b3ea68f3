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
        ({"testssl_exceptions": {"cipher_order": ""}}, "testssl_exceptions"),
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
