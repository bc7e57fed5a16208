"""perdure.envconfig loads the same profiles as temporalio.envconfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import temporalio.envconfig as tenv

from perdure import envconfig as penv
from perdure.service import TLSConfig

TOML = """
[profile.default]
address = "localhost:7233"
namespace = "default"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
api_key = "secret"

[profile.prod.tls]
server_name = "sni.example"
server_ca_cert_data = "CA-PEM"
client_cert_path = "{cert}"

[profile.prod.grpc_meta]
Custom_Header = "v1"
other = "v2"

[profile.off.tls]
disabled = true
"""


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"CLIENT-PEM")
    path = tmp_path / "temporal.toml"
    path.write_text(TOML.format(cert=cert))
    return path


BOTH_KEYS = '[profile.default.tls]\nclient_key_path = "a"\nclient_key_data = "b"'

CASES: list[tuple[str | None, dict[str, str]]] = [
    (None, {}),
    ("prod", {}),
    ("off", {}),
    (None, {"TEMPORAL_PROFILE": "prod"}),
    (
        "prod",
        {
            "TEMPORAL_ADDRESS": "env:1",
            "TEMPORAL_GRPC_META_OTHER": "",
            "TEMPORAL_GRPC_META_NEW_ONE": "n",
        },
    ),
    ("prod", {"TEMPORAL_TLS": "false"}),
    (None, {"TEMPORAL_TLS": "1", "TEMPORAL_TLS_SERVER_CA_CERT_DATA": "ENV-CA"}),
    (None, {"TEMPORAL_API_KEY": "k", "TEMPORAL_NAMESPACE": "ns2"}),
]


def _normalized(profile: Any) -> dict[str, Any]:
    return {
        "dict": profile.to_dict(),
        "connect": {
            key: (vars(value) if hasattr(value, "__dict__") else value)
            for key, value in profile.to_client_connect_config().items()
        },
    }


@pytest.mark.parametrize("name,env", CASES)
def test_profiles_match_temporalio(toml_file: Path, name: str | None, env: dict[str, str]) -> None:
    ours = penv.ClientConfigProfile.load(name, config_source=toml_file, override_env_vars=env)
    theirs = tenv.ClientConfigProfile.load(name, config_source=toml_file, override_env_vars=env)
    assert _normalized(ours) == _normalized(theirs)


def test_load_client_connect_config(toml_file: Path) -> None:
    env = {"TEMPORAL_CONFIG_FILE": str(toml_file), "TEMPORAL_PROFILE": "prod"}
    config = penv.ClientConfig.load_client_connect_config(override_env_vars=env)
    assert config["target_host"] == "prod.example:7233" and config["namespace"] == "prod-ns"
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.domain, tls.server_root_ca_cert, tls.client_cert) == (
        "sni.example",
        b"CA-PEM",
        b"CLIENT-PEM",
    )
    assert config["rpc_metadata"] == {"custom-header": "v1", "other": "v2"}
    assert penv.ClientConfig.load_client_connect_config(
        "off", config_file=str(toml_file), override_env_vars={}
    ) == {"tls": False}


def test_all_profiles_and_round_trip(toml_file: Path) -> None:
    ours = penv.ClientConfig.load(config_source=toml_file, override_env_vars={})
    theirs = tenv.ClientConfig.load(config_source=toml_file, override_env_vars={})
    assert ours.to_dict() == theirs.to_dict()
    assert penv.ClientConfig.from_dict(ours.to_dict()).to_dict() == ours.to_dict()


def test_missing_file_and_defaults(tmp_path: Path) -> None:
    empty = penv.ClientConfigProfile.load(
        config_source=tmp_path / "nope.toml", override_env_vars={}
    )
    assert empty == penv.ClientConfigProfile()
    assert (
        penv.ClientConfig.load(
            override_env_vars={"TEMPORAL_CONFIG_FILE": str(tmp_path / "x")}
        ).profiles
        == {}
    )
    only_env = penv.ClientConfigProfile.load(
        disable_file=True, override_env_vars={"TEMPORAL_ADDRESS": "a:1"}
    )
    assert only_env.address == "a:1"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"profile": "nope"}, "Profile 'nope' not found"),
        ({"config_source": "[profile.default]\nbogus = 1", "config_file_strict": True}, "bogus"),
        (
            {"config_source": BOTH_KEYS},
            "Cannot specify both",
        ),
        (
            {
                "config_source": "",
                "override_env_vars": {
                    "TEMPORAL_TLS_CLIENT_KEY_PATH": "a",
                    "TEMPORAL_TLS_CLIENT_KEY_DATA": "b",
                },
            },
            "Cannot specify both",
        ),
        ({"disable_file": True, "disable_env": True}, "Cannot disable both"),
    ],
)
def test_errors_like_temporalio(kwargs: dict[str, Any], match: str) -> None:
    kwargs = {"config_source": "", "override_env_vars": {}, **kwargs}
    with pytest.raises(Exception, match=match):
        tenv.ClientConfigProfile.load(**kwargs)
    with pytest.raises(penv.ConfigError, match=match):
        penv.ClientConfigProfile.load(**kwargs)


def test_lenient_mode_ignores_unknown_keys() -> None:
    profile = penv.ClientConfigProfile.load(
        config_source='[profile.default]\naddress = "x:1"\nbogus = 1', override_env_vars={}
    )
    assert profile.address == "x:1"
