"""What n8n answers for fixture workflows: shared by the fake-n8n runs and the real-n8n test.

``test_real_n8n.py`` checks these answers against a real n8n before comparing Headrace's
runs with them; ``test_n8n_runs.py`` checks the synced copies give them on the fake n8n.
"""

from __future__ import annotations

from typing import Any

# fixture → (mode the sync must choose, webhook path, inputs posted to the webhook)
CASES: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "order_intake": ("translated", "orders", [{"user_id": "v42"}, {"user_id": "b7"}]),
    "resilient_calls": ("translated", "resilient", [{"key": "real"}]),
    "legacy_nodes": (
        "translated",
        "legacy",
        [
            {"user_id": "v1", "amount": 250, "channel": "web"},
            {"user_id": "b2", "amount": 400, "channel": "Shop"},
            {"user_id": "b4", "amount": 101, "channel": "phone"},
            {"user_id": "v3", "amount": 100, "channel": "web"},
            {"user_id": "b3", "amount": 5, "channel": "x"},
        ],
    ),
    "profile_combine": (
        "translated",
        "profile",
        [{"user_id": "v9", "name": "Ann"}, {"user_id": "b1", "name": "Bob"}],
    ),
    "score_code": ("delegate", "score", [{"points": 21}, {"points": -4}]),
}


# What n8n answers, worked out by hand from the fixtures (the target server's users are
# {id, tier: "vip" for ids starting with v else "basic", spend: 250}): checked first, so a
# run of this test also proves that the fixtures mean what the fake-n8n tests assume.
KNOWN_ANSWERS: dict[str, list[Any]] = {
    "order_intake": [
        {"customer": "v42", "discount": 10, "order": {"tier": "vip"}},
        {"customer": "b7", "discount": 0, "order": {"tier": "basic"}},
    ],
    "resilient_calls": [{"found": False, "calls": 3}],
    "legacy_nodes": [
        {"route": "web", "customer": "v1"},
        {"route": "shop", "customer": "b2"},
        {"route": "phone"},
        {"route": "small vip"},
        {"route": "small", "tier": "basic"},
    ],
    "profile_combine": [
        {"tier": "vip", "currency": "EUR", "limits": {"daily": 100, "monthly": 250}, "name": "Ann"},
        {
            "tier": "basic",
            "currency": "EUR",
            "limits": {"daily": 100, "monthly": 250},
            "name": "Bob",
        },
    ],
    "score_code": [{"score": 42}, {"score": -8}],
}
