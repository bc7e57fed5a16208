"""Credentials to claims: Temporal's permissions format, API keys, JWTs, certificate names."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from perdure.server.security.claims import (
    AuthenticationError,
    AuthInfo,
    DefaultClaimMapper,
    JwtVerifier,
    key_digest,
    parse_permissions,
)
from perdure.server.security.roles import Role
from tests.server.security.jwts import Signers


def test_permissions_map_to_namespace_and_system_roles() -> None:
    claims = parse_permissions(
        ["default:read", "default:worker", "orders:write", "temporal-system:admin",
         "bad", "x:owner", 7, "a:b:read"]
    )  # fmt: skip
    assert claims.system == Role.ADMIN
    assert claims.namespaces == {
        "default": Role.READER | Role.WORKER,
        "orders": Role.WRITER,
        "a:b": Role.READER,
    }
    assert claims.role_in("elsewhere") == Role.ADMIN  # system roles hold in every namespace


@pytest.fixture(scope="module")
def signers() -> Signers:
    return Signers.make()


@pytest.fixture
def jwks_file(tmp_path: Path, signers: Signers) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(signers.jwks()))
    return path


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_a_jwt_signed_by_a_jwks_key_gives_its_permissions(
    signers: Signers, jwks_file: Path, alg: str
) -> None:
    mapper = DefaultClaimMapper(jwt_verifier=JwtVerifier.from_files([jwks_file]))
    token = signers.token(["default:write"], alg=alg)
    claims = mapper.get_claims(AuthInfo(f"Bearer {token}"))
    assert claims.namespaces == {"default": Role.WRITER}
    assert claims.subject == "someone"


def test_pem_public_keys_verify_jwts(tmp_path: Path, signers: Signers) -> None:
    pem = tmp_path / "rsa.pub.pem"
    pem.write_bytes(
        signers.rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    mapper = DefaultClaimMapper(jwt_verifier=JwtVerifier.from_files(pem_files=[pem]))
    token = jwt.encode(
        {"permissions": ["a:read"], "exp": int(time.time()) + 60}, signers.rsa_key, "RS256"
    )
    assert mapper.get_claims(AuthInfo(f"Bearer {token}")).namespaces == {"a": Role.READER}


@pytest.mark.parametrize(
    ("claims", "audience", "error"),
    [
        ({"ttl": -10}, None, "expired"),
        ({"nbf": int(time.time()) + 3600}, None, "not yet valid"),
        ({"aud": "someone-else"}, "perdure", "(?i)audience"),
        ({}, "perdure", "aud"),
    ],
)
def test_expired_early_or_misaddressed_jwts_are_refused(
    signers: Signers, jwks_file: Path, claims: dict[str, object], audience: str | None, error: str
) -> None:
    mapper = DefaultClaimMapper(jwt_verifier=JwtVerifier.from_files([jwks_file], audience=audience))
    claims = dict(claims)
    ttl = claims.pop("ttl", 300)
    token = signers.token(["default:read"], ttl=float(ttl), **claims)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match=error):
        mapper.get_claims(AuthInfo(f"Bearer {token}"))


def test_a_jwt_from_an_unknown_signer_or_with_a_forged_alg_is_refused(
    signers: Signers, jwks_file: Path
) -> None:
    mapper = DefaultClaimMapper(jwt_verifier=JwtVerifier.from_files([jwks_file]))
    stranger = Signers.make().token(["temporal-system:admin"])
    with pytest.raises(AuthenticationError):
        mapper.get_claims(AuthInfo(f"Bearer {stranger}"))
    # HS256 under the RSA key's kid: the key decides the algorithm, not the token.
    forged = jwt.encode(
        {"permissions": ["temporal-system:admin"], "exp": 2**31},
        "not the secret, but long enough for HS256",
        algorithm="HS256",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(AuthenticationError):
        mapper.get_claims(AuthInfo(f"Bearer {forged}"))


def test_api_keys_are_matched_by_digest_and_unknown_ones_refused() -> None:
    mapper = DefaultClaimMapper(api_keys={key_digest("k-reader"): ["default:read"]})
    assert mapper.get_claims(AuthInfo("Bearer k-reader")).namespaces == {"default": Role.READER}
    with pytest.raises(AuthenticationError, match="unknown API key"):
        mapper.get_claims(AuthInfo("Bearer obviously-wrong"))
    with pytest.raises(AuthenticationError, match="format"):
        mapper.get_claims(AuthInfo("k-reader"))


def test_certificate_names_add_their_permissions() -> None:
    mapper = DefaultClaimMapper(
        api_keys={key_digest("k"): ["a:read"]}, tls_common_names={"worker-1": ["a:worker"]}
    )
    claims = mapper.get_claims(AuthInfo("Bearer k", tls_common_name="worker-1"))
    assert claims.namespaces == {"a": Role.READER | Role.WORKER}
    assert mapper.get_claims(AuthInfo(tls_common_name="nobody")).namespaces == {}
