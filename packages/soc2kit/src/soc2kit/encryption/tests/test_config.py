"""Bad key configuration gets an early, clear error that names the problem and never the key."""

import base64
import json

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from soc2kit.encryption.config import load_settings
from soc2kit.encryption.errors import KeyConfigurationError
from soc2kit.encryption.keyring import get_keyring

from .conftest import local_keks, new_key

SHORT_KEY = base64.b64encode(b"sixteen byte key").decode()


def _expect_error(settings, conf, *fragments):
    settings.FIELD_ENCRYPTION = conf
    with pytest.raises(KeyConfigurationError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message
    return message


def test_valid_settings_load(settings):
    conf = load_settings()
    assert conf.kek_backend == "local"
    assert len(conf.local_keks["k1"]) == 32
    assert repr(conf.local_keks["k1"]) not in repr(conf)
    assert repr(conf.blind_index_keys["1"]) not in repr(conf)
    assert settings.FIELD_ENCRYPTION["BLIND_INDEX_KEY"] not in repr(conf)


def test_malformed_json_is_named_without_echoing_the_keys(settings, encryption_settings):
    secret = new_key()
    broken = '{"active": "k1", "keys": {"k1": "' + secret + '"'  # unterminated
    message = _expect_error(
        settings, {**encryption_settings, "LOCAL_KEKS": broken}, "FIELD_ENCRYPTION_LOCAL_KEKS"
    )
    assert "not valid JSON" in message
    assert secret not in message


def test_malformed_base64_key_names_the_key_id(settings, encryption_settings):
    bad = "not base64!!" + "A" * 30
    message = _expect_error(
        settings, {**encryption_settings, "LOCAL_KEKS": local_keks("k9", k9=bad)}, "'k9'", "not valid base64"
    )
    assert bad not in message


def test_wrong_length_key_says_how_long(settings, encryption_settings):
    message = _expect_error(
        settings,
        {**encryption_settings, "LOCAL_KEKS": local_keks("k1", k1=SHORT_KEY)},
        "16 bytes",
        "exactly 32",
    )
    assert SHORT_KEY not in message


def test_wrong_length_blind_index_key(settings, encryption_settings):
    _expect_error(
        settings,
        {**encryption_settings, "BLIND_INDEX_KEY": SHORT_KEY},
        "FIELD_ENCRYPTION_BLIND_INDEX_KEY",
        "16 bytes",
    )


def test_missing_blind_index_key(settings, encryption_settings):
    _expect_error(
        settings, {**encryption_settings, "BLIND_INDEX_KEY": ""}, "FIELD_ENCRYPTION_BLIND_INDEX_KEY", "empty"
    )


def test_blind_index_key_must_differ_from_the_keks(settings, encryption_settings):
    shared = new_key()
    _expect_error(
        settings,
        {**encryption_settings, "LOCAL_KEKS": local_keks("k1", k1=shared), "BLIND_INDEX_KEY": shared},
        "its own key",
    )


def test_active_kek_must_be_one_of_the_keys(settings, encryption_settings):
    _expect_error(
        settings, {**encryption_settings, "LOCAL_KEKS": local_keks("k2", k1=new_key())}, "'k2'", "['k1']"
    )


def test_keks_must_hold_a_key(settings, encryption_settings):
    _expect_error(
        settings,
        {**encryption_settings, "LOCAL_KEKS": json.dumps({"active": "k1", "keys": {}})},
        "at least one key",
    )


def test_unknown_backend(settings, encryption_settings):
    _expect_error(
        settings, {**encryption_settings, "KEK_BACKEND": "vault"}, "FIELD_ENCRYPTION_KEK_BACKEND", "'vault'"
    )


def test_kms_backend_needs_a_key_id(settings, encryption_settings):
    _expect_error(
        settings,
        {**encryption_settings, "KEK_BACKEND": "kms", "KMS_KEY_ID": ""},
        "FIELD_ENCRYPTION_KMS_KEY_ID",
    )


def test_local_backend_needs_keks(settings, encryption_settings):
    _expect_error(settings, {**encryption_settings, "LOCAL_KEKS": ""}, "FIELD_ENCRYPTION_LOCAL_KEKS is empty")


def test_missing_settings_block(settings):
    del settings.FIELD_ENCRYPTION
    with pytest.raises(KeyConfigurationError, match=r"settings\.FIELD_ENCRYPTION is missing"):
        load_settings()


def test_keyring_refuses_to_load_with_bad_settings(settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k1", k1=SHORT_KEY)}
    with pytest.raises(KeyConfigurationError, match="exactly 32"):
        get_keyring()


def test_manage_py_check_fails_on_bad_key(settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {**encryption_settings, "LOCAL_KEKS": local_keks("k1", k1=SHORT_KEY)}
    with pytest.raises(SystemCheckError, match=r"encryption\.E001.*16 bytes"):
        call_command("check")


def test_a_row_bound_model_must_read_through_the_encrypted_manager():
    from django.db import models

    from soc2kit.encryption.checks import check_row_bound_models_read_through_the_encrypted_manager
    from soc2kit.encryption.fields import EncryptedTextField, RowIdentityField

    class Unmanaged(models.Model):
        row_uuid = RowIdentityField()
        body = EncryptedTextField()

        class Meta:
            app_label = "encryption_testapp"

        def __str__(self) -> str:
            return f"Unmanaged {self.pk}"

    try:
        errors = check_row_bound_models_read_through_the_encrypted_manager(None)
    finally:
        from django.apps import apps

        del apps.get_app_config("encryption_testapp").models["unmanaged"]
        apps.clear_cache()
    assert [(e.id, e.obj) for e in errors] == [("encryption.E003", Unmanaged)]
    assert "Meta.base_manager_name = 'objects'" in errors[0].hint
