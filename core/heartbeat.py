"""Heartbeats from code that runs as a regular or as a local activity."""

from __future__ import annotations

from typing import Any

from temporalio import activity


def heartbeat(*details: Any) -> None:
    """Heartbeat when running as a regular activity; elsewhere do nothing.

    A local activity has no record on the server to heartbeat (the workflow's own worker
    times its attempts), and sdk-core answers every heartbeat of one with an "Activity
    heartbeat failed" (``UnknownActivity``) warning: one per chunk of a response body.
    """
    if activity.in_activity() and not activity.info().is_local:
        activity.heartbeat(*details)
