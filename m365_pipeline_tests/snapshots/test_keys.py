"""Repository keys: from a base64 key or a passphrase through scrypt; separate subkeys; never shown."""

from __future__ import annotations

import base64
import logging
import pickle

import pytest

from m365_pipeline.snapshots.keys import (
    KeyConfigurationError,
    RepositoryKeys,
    ScryptParams,
    WrongKeyError,
    load_keys,
)

FAST = {"n": 2**10, "r": 8, "p": 1}  # cheap scrypt for tests; the defaults are 2**15, 8, 1


def test_same_passphrase_and_salt_give_the_same_keys() -> None:
    params = ScryptParams.new(**FAST)
    first = RepositoryKeys.from_passphrase("correct horse", params)
    again = RepositoryKeys.from_passphrase("correct horse", ScryptParams.from_dict(params.to_dict()))
    assert (first.encryption, first.chunk_id, first.check_value) == (
        again.encryption,
        again.chunk_id,
        again.check_value,
    )
    again.verify(first.check_value)


@pytest.mark.parametrize("change", ["passphrase", "salt", "cost"])
def test_a_different_passphrase_salt_or_cost_gives_different_keys(change: str) -> None:
    params = ScryptParams.new(**FAST)
    base = RepositoryKeys.from_passphrase("correct horse", params)
    other = {
        "passphrase": lambda: RepositoryKeys.from_passphrase("correct horsE", params),
        "salt": lambda: RepositoryKeys.from_passphrase("correct horse", ScryptParams.new(**FAST)),
        "cost": lambda: RepositoryKeys.from_passphrase("correct horse", ScryptParams(params.salt, 2**11)),
    }[change]()
    assert other.encryption != base.encryption
    assert other.chunk_id != base.chunk_id
    with pytest.raises(WrongKeyError, match="wrong repository key"):
        other.verify(base.check_value)


def test_subkeys_are_separate_and_not_the_master() -> None:
    master = bytes(range(32))
    keys = RepositoryKeys(master)
    assert len({keys.encryption, keys.chunk_id, bytes.fromhex(keys.check_value), master}) == 4
    assert all(len(k) == 32 for k in (keys.encryption, keys.chunk_id))


def test_key_from_the_environment_in_base64() -> None:
    master = bytes(range(32))
    keys = load_keys({"M365_SNAPSHOT_KEY": base64.b64encode(master).decode()}, None)
    assert keys.encryption == RepositoryKeys(master).encryption
    params = ScryptParams.new(**FAST)
    from_passphrase = load_keys({"M365_SNAPSHOT_PASSPHRASE": "pw"}, params)
    assert from_passphrase.encryption == RepositoryKeys.from_passphrase("pw", params).encryption


SECRET = base64.b64encode(b"\x07" * 31).decode()


@pytest.mark.parametrize(
    ("environ", "scrypt", "message"),
    [
        ({}, None, "no snapshot key: set M365_SNAPSHOT_KEY"),
        ({"M365_SNAPSHOT_KEY": "not base64!"}, None, "M365_SNAPSHOT_KEY is not valid base64"),
        ({"M365_SNAPSHOT_KEY": SECRET}, None, "M365_SNAPSHOT_KEY decodes to 31 bytes, expected 32"),
        ({"M365_SNAPSHOT_PASSPHRASE": "pw"}, None, "records no scrypt parameters"),
    ],
)
def test_bad_key_settings_are_named_without_their_value(
    environ: dict[str, str], scrypt: ScryptParams | None, message: str
) -> None:
    with pytest.raises(KeyConfigurationError) as raised:
        load_keys(environ, scrypt)
    assert message in str(raised.value)
    assert SECRET not in str(raised.value)


def test_keys_never_show_in_repr_logs_or_pickles(caplog: pytest.LogCaptureFixture) -> None:
    keys = RepositoryKeys(b"\x01" * 32)
    logging.getLogger("test").warning("keys: %r %s", keys, keys)
    shown = repr(keys) + str(keys) + caplog.text
    assert "redacted" in repr(keys)
    for secret in (keys.encryption, keys.chunk_id, b"\x01" * 32):
        assert secret.hex() not in shown and repr(secret) not in shown
    with pytest.raises(TypeError):
        pickle.dumps(keys)
