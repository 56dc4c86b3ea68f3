"""The AWS KMS KEK path, against moto: data keys from GenerateDataKey, unwrap with the encryption context."""

import io

import boto3
import pytest
from django.core.management import call_command
from moto import mock_aws

from soc2kit.encryption.errors import DecryptionError, UnknownKeyError
from soc2kit.encryption.keyring import check_keys_loadable, get_keyring, reset_keyring
from soc2kit.encryption.models import DataKey

from .conftest import raw_column
from .testapp.models import Person

pytestmark = pytest.mark.django_db
REGION = "eu-west-1"


@pytest.fixture
def kms(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


@pytest.fixture
def kms_key(kms, settings, encryption_settings):
    arn = kms.create_key(Description="soc2kit field encryption")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/soc2kit-fields", TargetKeyId=arn)
    settings.FIELD_ENCRYPTION = {
        **encryption_settings,
        "KEK_BACKEND": "kms",
        "LOCAL_KEKS": "",
        "KMS_KEY_ID": "alias/soc2kit-fields",
        "KMS_ENCRYPTION_CONTEXT": {"app": "soc2kit"},
    }
    return arn


def test_kms_wraps_data_keys_and_values_round_trip(kms_key, kms):
    person = Person.objects.create(full_name="Kms Person", email="kms@example.com", national_id="K-1")
    key = DataKey.objects.get()
    assert key.kek_backend == "kms"
    assert key.kek_id == kms_key  # the ARN KMS reports, not the alias
    # The wrapped key is a KMS ciphertext blob that only decrypts with our encryption context.
    plaintext = kms.decrypt(
        CiphertextBlob=bytes(key.wrapped_key),
        EncryptionContext={"app": "soc2kit", "soc2kit:data-key": key.key_id},
    )["Plaintext"]
    assert len(plaintext) == 32
    assert raw_column(Person, "email", person.pk).startswith(f"ef2:1:{key.key_id}:")
    reset_keyring()  # a new process: the data key must be unwrapped through KMS Decrypt
    assert Person.objects.get(pk=person.pk).email == "kms@example.com"
    check_keys_loadable()


def test_kms_refuses_another_encryption_context(kms_key, settings, encryption_settings):
    person = Person.objects.create(full_name="Ctx", email="ctx@example.com", national_id="1")
    settings.FIELD_ENCRYPTION = {**settings.FIELD_ENCRYPTION, "KMS_ENCRYPTION_CONTEXT": {"app": "other"}}
    with pytest.raises(DecryptionError, match=r"KMS key arn:aws:kms:.* refused to unwrap data key"):
        Person.objects.get(pk=person.pk)


def test_kms_access_denied_is_a_clear_error(kms):
    from botocore.stub import Stubber

    from soc2kit.encryption.errors import KeyConfigurationError
    from soc2kit.encryption.kek import KmsKEK, WrappedKey

    client = boto3.client("kms", region_name=REGION)
    kek = KmsKEK("alias/x", {"app": "soc2kit"}, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("decrypt", service_error_code="AccessDeniedException", http_status_code=400)
        with pytest.raises(
            KeyConfigurationError, match="KMS decrypt with key arn:k failed: AccessDeniedException"
        ):
            kek.unwrap(WrappedKey("kms", "arn:k", b"blob"), "abcd1234")
        stub.add_client_error("decrypt", service_error_code="DisabledException", http_status_code=400)
        with pytest.raises(KeyConfigurationError, match="DisabledException"):
            kek.unwrap(WrappedKey("kms", "arn:k", b"blob"), "abcd1234")


def test_kms_unknown_key_is_named(kms, settings, encryption_settings):
    settings.FIELD_ENCRYPTION = {
        **encryption_settings,
        "KEK_BACKEND": "kms",
        "KMS_KEY_ID": "alias/does-not-exist",
    }
    with pytest.raises(UnknownKeyError, match="alias/does-not-exist does not exist"):
        check_keys_loadable()


def test_move_from_local_kek_to_kms_then_to_a_new_kms_key(kms, settings, encryption_settings):
    local = dict(encryption_settings)
    person = Person.objects.create(full_name="Mover", email="move@example.com", national_id="M-1")
    assert DataKey.objects.get().kek_backend == "local"

    first_arn = kms.create_key()["KeyMetadata"]["Arn"]
    # Both KEKs configured: the local one unwraps, KMS wraps.
    settings.FIELD_ENCRYPTION = {**local, "KEK_BACKEND": "kms", "KMS_KEY_ID": first_arn}
    out = io.StringIO()
    call_command("rewrap_field_keys", stdout=out)
    assert f"re-wrapped from local:k1 to kms:{first_arn}" in out.getvalue()

    second_arn = kms.create_key()["KeyMetadata"]["Arn"]
    settings.FIELD_ENCRYPTION = {**local, "LOCAL_KEKS": "", "KEK_BACKEND": "kms", "KMS_KEY_ID": second_arn}
    call_command("rewrap_field_keys", stdout=io.StringIO())
    key = DataKey.objects.get()
    assert (key.kek_backend, key.kek_id) == ("kms", second_arn)
    reset_keyring()
    assert Person.objects.get(pk=person.pk).email == "move@example.com"


def test_kms_rotation_command(kms_key):
    people = [
        Person.objects.create(full_name=f"R{i}", email=f"r{i}@example.com", national_id=str(i))
        for i in range(5)
    ]
    call_command("rotate_field_keys", "--batch-size", "2", "--keep-old-keys", stdout=io.StringIO())
    assert list(DataKey.objects.values_list("version", "kek_backend")) == [(1, "kms"), (2, "kms")]
    reset_keyring()
    assert [Person.objects.get(pk=p.pk).email for p in people] == [p.email for p in people]
    assert get_keyring().active().version == 2
