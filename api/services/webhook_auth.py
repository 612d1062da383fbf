"""Checking that a webhook call comes from who holds its secret. Pure: no I/O here.

Schemes (``webhooks.auth_type`` and ``auth_config``):

- ``none``: anyone who knows the URL.
- ``header``: the secret itself in a header (default ``X-Headrace-Token``).
- ``hmac``: ``X-Headrace-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``; with
  ``X-Headrace-Timestamp: <unix seconds>`` the signed bytes are ``"<timestamp>." + body`` and
  the timestamp must be within ``tolerance`` seconds. Presets read the same idea in the
  senders' own headers: ``github`` (``X-Hub-Signature-256``, no timestamp) and ``stripe``
  (``Stripe-Signature: t=<unix>,v1=<hex>`` over ``"<t>." + body``).

Every comparison is constant-time. A signature that carries a timestamp may be used once:
:class:`Verified` names the key the caller claims in the replay store (the
``webhook_signatures`` table, shared by every API replica).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api.errors import AuthenticationFailed

DEFAULT_TOKEN_HEADER = "X-Headrace-Token"
SIGNATURE_HEADER = "X-Headrace-Signature"
TIMESTAMP_HEADER = "X-Headrace-Timestamp"
GITHUB_HEADER = "X-Hub-Signature-256"
STRIPE_HEADER = "Stripe-Signature"
# Never handed to the run: credentials and signatures (lower case, as headers are compared).
HIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-headrace-token",
        "x-headrace-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "stripe-signature",
    }
)


@dataclass(frozen=True)
class AuthScheme:
    """A webhook's authentication, as stored."""

    type: str = "none"
    header: str = DEFAULT_TOKEN_HEADER
    preset: str | None = None
    tolerance: int = 300
    require_timestamp: bool = False

    @classmethod
    def of(
        cls, auth_type: str, config: Mapping[str, Any], default_tolerance: int = 300
    ) -> AuthScheme:
        """The stored scheme; a webhook without its own ``tolerance`` gets the default
        (HEADRACE_WEBHOOK_TIMESTAMP_TOLERANCE)."""
        return cls(
            type=auth_type,
            header=config.get("header") or DEFAULT_TOKEN_HEADER,
            preset=config.get("preset"),
            tolerance=int(config.get("tolerance") or default_tolerance),
            require_timestamp=bool(config.get("require_timestamp")),
        )


@dataclass(frozen=True)
class Verified:
    """A call that passed; ``replay_key`` must not pass again within ``replay_ttl`` seconds."""

    replay_key: str | None = None
    replay_ttl: float = 0
    delivery_id: str | None = None  # the sender's own id of the delivery (GitHub)


def _refuse(detail: str) -> AuthenticationFailed:
    # No WWW-Authenticate: a webhook is not a bearer-token resource.
    return AuthenticationFailed(detail=detail, headers={})


def verify(
    scheme: AuthScheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> Verified:
    """Check a call against the webhook's scheme; :class:`AuthenticationFailed` if it fails.

    Args:
        scheme: The webhook's authentication.
        secrets: Every secret currently accepted (the current one, and a rotated-out one
            during its grace period).
        headers: The request's headers (a case-insensitive mapping).
        body: The raw body, exactly as received.
        now: Unix time, for timestamp tolerance.
    """
    if scheme.type == "none":
        return Verified()
    if not secrets:
        raise _refuse("This webhook has no secret configured")
    if scheme.type == "header":
        return _verify_header(scheme, secrets, headers)
    if scheme.preset == "github":
        return _verify_github(secrets, headers, body)
    if scheme.preset == "stripe":
        return _verify_stripe(scheme, secrets, headers, body, now)
    return _verify_headrace(scheme, secrets, headers, body, now)


def _verify_header(
    scheme: AuthScheme, secrets: Sequence[str], headers: Mapping[str, str]
) -> Verified:
    given = headers.get(scheme.header.lower())
    if not given:
        raise _refuse(f"Missing {scheme.header} header")
    if not _any_equal(given.encode(), [s.encode() for s in secrets]):
        raise _refuse(f"Wrong {scheme.header}")
    return Verified()


def _verify_headrace(
    scheme: AuthScheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> Verified:
    signature = _sha256_value(headers.get(SIGNATURE_HEADER.lower()), SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER.lower())
    if stamp is None:
        if scheme.require_timestamp:
            raise _refuse(f"Missing {TIMESTAMP_HEADER} header")
        _check_mac(signature, secrets, body, SIGNATURE_HEADER)
        return Verified()
    timestamp = _fresh_timestamp(stamp, scheme.tolerance, now)
    _check_mac(signature, secrets, f"{timestamp}.".encode() + body, SIGNATURE_HEADER)
    return Verified(replay_key=f"headrace:{signature}", replay_ttl=2 * scheme.tolerance)


def _verify_github(secrets: Sequence[str], headers: Mapping[str, str], body: bytes) -> Verified:
    signature = _sha256_value(headers.get(GITHUB_HEADER.lower()), GITHUB_HEADER)
    _check_mac(signature, secrets, body, GITHUB_HEADER)
    return Verified(delivery_id=headers.get("x-github-delivery"))


def _verify_stripe(
    scheme: AuthScheme,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> Verified:
    raw = headers.get(STRIPE_HEADER.lower())
    if not raw:
        raise _refuse(f"Missing {STRIPE_HEADER} header")
    stamp, signatures = _parse_stripe(raw)
    timestamp = _fresh_timestamp(stamp, scheme.tolerance, now)
    signed = f"{timestamp}.".encode() + body
    expected = [_mac(secret, signed) for secret in secrets]
    for signature in signatures:
        if _any_equal(signature.encode(), [e.encode() for e in expected]):
            return Verified(replay_key=f"stripe:{signature}", replay_ttl=2 * scheme.tolerance)
    raise _refuse(f"Wrong {STRIPE_HEADER}")


def _parse_stripe(raw: str) -> tuple[str, list[str]]:
    stamp: str | None = None
    signatures: list[str] = []
    for part in raw.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if stamp is None or not signatures:
        raise _refuse(f"{STRIPE_HEADER} needs t=<timestamp> and v1=<signature>")
    return stamp, signatures


def _sha256_value(header_value: str | None, name: str) -> str:
    if not header_value:
        raise _refuse(f"Missing {name} header")
    scheme, _, value = header_value.strip().partition("=")
    if scheme != "sha256" or not value:
        raise _refuse(f"{name} must read sha256=<hex>")
    return value.lower()


def _fresh_timestamp(stamp: str, tolerance: int, now: float) -> int:
    try:
        timestamp = int(stamp)
    except ValueError:
        raise _refuse("The signature timestamp is not a unix time in seconds") from None
    if abs(now - timestamp) > tolerance:
        raise _refuse(f"The signature timestamp is more than {tolerance}s away from now")
    return timestamp


def _check_mac(signature: str, secrets: Sequence[str], signed: bytes, name: str) -> None:
    expected = [_mac(secret, signed).encode() for secret in secrets]
    if not _any_equal(signature.encode(), expected):
        raise _refuse(f"Wrong {name}")


def _mac(secret: str, signed: bytes) -> str:
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _any_equal(given: bytes, candidates: Sequence[bytes]) -> bool:
    # Compare against every candidate, so timing does not tell which (or whether one) matched.
    matches = [hmac.compare_digest(given, candidate) for candidate in candidates]
    return any(matches)


def visible_headers(headers: Mapping[str, str], scheme: AuthScheme) -> dict[str, str]:
    """The headers a run may see: credentials and signatures removed, names in lower case."""
    hidden = HIDDEN_HEADERS | {scheme.header.lower()}
    return {k.lower(): v for k, v in headers.items() if k.lower() not in hidden}


# --- signing, for senders (tests, the benchmark, the README's curl) --------------------


def headrace_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Headrace-Signature`` value for ``body`` (and ``X-Headrace-Timestamp``)."""
    signed = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + _mac(secret, signed)


def github_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends."""
    return "sha256=" + _mac(secret, body)


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` value Stripe sends."""
    return f"t={timestamp},v1={_mac(secret, f'{timestamp}.'.encode() + body)}"
