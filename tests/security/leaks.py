"""Where a secret's value must never be: asked after every attack on it."""

from __future__ import annotations

import json
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client

from db.models import Execution, ExecutionLog


async def kept_records(
    client: httpx.AsyncClient,
    app: FastAPI,
    temporal: Client,
    headers: dict[str, str],
    execution_id: str,
) -> dict[str, str]:
    """Everything Headrace keeps about a run, as text: API answers, rows, the history."""
    base = f"/api/v1/executions/{execution_id}"
    kept = {
        "execution": (await client.get(base, headers=headers)).text,
        "logs": (await client.get(f"{base}/logs?limit=1000", headers=headers)).text,
        "events": (await client.get(f"{base}/events", headers=headers)).text,
        "history": (await temporal.get_workflow_handle(execution_id).fetch_history()).to_json(),
    }
    async with app.state.ctx.sessions() as session:
        row = await session.get(Execution, uuid.UUID(execution_id))
        assert row is not None
        logs = (
            await session.scalars(select(ExecutionLog).where(ExecutionLog.execution_id == row.id))
        ).all()
        kept["execution row"] = json.dumps(
            [row.input_data, row.output_data, row.steps, row.error_message], default=str
        )
        kept["log rows"] = json.dumps([(log.message, log.data) for log in logs], default=str)
    return kept


async def assert_kept_nowhere(
    value: str,
    client: httpx.AsyncClient,
    app: FastAPI,
    temporal: Client,
    headers: dict[str, str],
    execution_id: str,
) -> None:
    """``value`` is in none of the run's API answers, rows, events, logs or history."""
    kept = await kept_records(client, app, temporal, headers, execution_id)
    for where, text in kept.items():
        assert value not in text, f"the secret's value is in the {where}"
