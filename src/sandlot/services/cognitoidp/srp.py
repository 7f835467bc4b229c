"""The SRP-6a variant Cognito's USER_SRP_AUTH speaks (what Amplify, the Cognito
Identity SDK for JavaScript and pycognito's AWSSRP implement).

The group is RFC 5054's 3072-bit prime with g = 2, k = H(00 | N | 02); hashes are
SHA-256 over hex strings padded as Cognito's clients pad them (even length, and a
leading 00 when the top bit is set: ``pad``). A user's verifier is v = g^x with
x = H(pad(salt) | H(poolName | username | ":" | password)), poolName being the part of
the pool id after the underscore. The server answers A with B = k·v + g^b; both sides
derive S and a 16-byte key by HKDF(S, salt=u, info="Caldera Derived Key"); the client
proves it with an HMAC over poolName | username | SECRET_BLOCK | TIMESTAMP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
G = 2
INFO = b"Caldera Derived Key"


def pad(value: int) -> str:
    text = f"{value:x}"
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89abcdef" else text


def _hash_hex(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest().rjust(64, "0")


K = int(_hash_hex("00" + f"{N:X}" + "02"), 16)


def _x(pool_name: str, username: str, password: str, salt: int) -> int:
    inner = hashlib.sha256(f"{pool_name}{username}:{password}".encode()).hexdigest()
    return int(_hash_hex(pad(salt) + inner.rjust(64, "0")), 16)


def verifier(pool_name: str, username: str, password: str) -> tuple[int, int]:
    """A new (salt, verifier) pair for a password: what is stored for SRP sign-in."""
    salt = int.from_bytes(secrets.token_bytes(16), "big")
    return salt, pow(G, _x(pool_name, username, password, salt), N)


def server_ephemeral(v: int) -> tuple[int, int]:
    """(b, B) for one sign-in attempt."""
    while True:
        b = int.from_bytes(secrets.token_bytes(128), "big") % N
        big_b = (K * v + pow(G, b, N)) % N
        if big_b:
            return b, big_b


def session_key(big_a: int, big_b: int, b: int, v: int) -> bytes | None:
    """The 16-byte key both sides derive; None when A is not acceptable (A mod N = 0)."""
    if big_a % N == 0:
        return None
    u = int(_hash_hex(pad(big_a) + pad(big_b)), 16)
    if u == 0:
        return None
    s = pow(big_a * pow(v, u, N), b, N)
    prk = hmac.new(bytes.fromhex(pad(u)), bytes.fromhex(pad(s)), hashlib.sha256).digest()
    return hmac.new(prk, INFO + b"\x01", hashlib.sha256).digest()[:16]


def signature(
    key: bytes, pool_name: str, username: str, secret_block: bytes, timestamp: str
) -> bytes:
    message = pool_name.encode() + username.encode() + secret_block + timestamp.encode()
    return hmac.new(key, message, hashlib.sha256).digest()
