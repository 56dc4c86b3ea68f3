"""Password policy: validators from base settings (the test settings only swap the hasher for speed)."""

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


@pytest.mark.parametrize("password", ["short-Pw1", "123456789012345", "password1234", "aliceexample99"])
def test_weak_passwords_are_rejected(password):
    with pytest.raises(ValidationError):
        validate_password(password, User(username="aliceexample99"))


def test_a_long_unusual_password_is_accepted():
    validate_password("plum-kettle-orbit-57", User(username="alice"))


def test_argon2_hashes_and_pbkdf2_hashes_still_verify(settings):
    from config.settings import base

    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS  # the real list (test.py uses MD5 for speed)
    argon = make_password("plum-kettle-orbit-57", hasher="argon2")
    assert argon.startswith("argon2$")
    assert check_password("plum-kettle-orbit-57", argon)
    pbkdf2 = make_password("plum-kettle-orbit-57", hasher="pbkdf2_sha256")
    assert check_password("plum-kettle-orbit-57", pbkdf2)
