"""Keys and tokens for authorization tests: RS256, ES256 and HS256 signers and a JWKS."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class Signers:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    secret: bytes

    @classmethod
    def make(cls) -> Signers:
        return cls(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec.generate_private_key(ec.SECP256R1()),
            b"a shared secret of thirty-two bytes!",
        )

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        oct_jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()}
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
                {**oct_jwk, "kid": "hs-1", "alg": "HS256", "use": "sig"},
            ]
        }

    def token(
        self, permissions: list[str], *, alg: str = "RS256", ttl: float = 300, **claims: Any
    ) -> str:
        now = int(time.time())
        payload = {"sub": "someone", "permissions": permissions, "iat": now, "exp": now + ttl}
        payload.update(claims)
        key: Any = {"RS256": self.rsa_key, "ES256": self.ec_key, "HS256": self.secret}[alg]
        kid = {"RS256": "rsa-1", "ES256": "ec-1", "HS256": "hs-1"}[alg]
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})
