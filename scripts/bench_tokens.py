#!/usr/bin/env python3
"""Makes the benchmark's signing key and tokens: a PEM public key (HAProxy's jwt_verify), a JWKS
(authgate), and COUNT distinct RS256 ID tokens, one per line."""
import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

directory, count, issuer, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def integer(value):
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public = key.public_key()
with open(f"{directory}/public.pem", "wb") as handle:
    handle.write(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
numbers = public.public_numbers()
with open(f"{directory}/jwks.json", "w") as handle:
    json.dump({"keys": [{"kty": "RSA", "kid": "bench", "use": "sig", "alg": "RS256",
                         "n": integer(numbers.n), "e": integer(numbers.e)}]}, handle)
header = b64(json.dumps({"alg": "RS256", "kid": "bench"}).encode())
now = int(time.time())
with open(f"{directory}/tokens.txt", "w") as handle:
    for index in range(count):
        payload = b64(json.dumps({
            "iss": issuer, "aud": client, "token_use": "id", "sub": f"user-{index}",
            "cognito:username": f"user{index}", "exp": now + 7200, "iat": now,
        }).encode())
        signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        handle.write(f"{header}.{payload}.{b64(signature)}\n")
