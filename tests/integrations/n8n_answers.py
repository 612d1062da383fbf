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
    # Code nodes (both modes), expressions with operators, Set keeping the other fields
    "code_expressions": (
        "translated",
        "code-expr",
        [
            {"order": "A7", "lines": [{"price": 12.5, "qty": 4}, {"price": 30, "qty": 2}]},
            {"order": "B1", "lines": [{"price": 9.5, "qty": 1}]},
        ],
    ),
    # Split Out, then a Set once per item (a foreach step), then a Code node gathering them
    "split_lines": (
        "translated",
        "split-lines",
        [
            {"lines": [{"sku": "a", "price": 2, "qty": 3}, {"sku": "b", "price": 5, "qty": 1}]},
            {"lines": [{"sku": "z", "price": 1.5, "qty": 2}]},
        ],
    ),
    # Loop Over Items over a Split Out's items, an expression with operators in the loop
    "loop_lines": (
        "translated",
        "loop-lines",
        [
            {
                "lines": [
                    {"sku": "a", "price": 2, "qty": 3, "discount": 1},
                    {"sku": "b", "price": 5, "qty": 1},
                    {"sku": "c", "price": 0.5, "qty": 4},
                ]
            },
        ],
    ),
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
    "code_expressions": [
        {
            "order": "A7",
            "total": 110,
            "count": 2,
            "label": "Order A7: 110.00",
            "big": True,
            "doubled": 221,
            "keys": "big,count,doubled,label,order,total",
            "lines": 2,
        },
        {"avg": 9.5},
    ],
    "split_lines": [{"total": 11, "skus": "a+b"}, {"total": 3, "skus": "z"}],
    "loop_lines": [{"total": 12, "skus": ["A", "B", "C"]}],
}
