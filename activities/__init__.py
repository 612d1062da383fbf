"""Headrace activities: every piece of I/O a workflow step performs.

Activities are methods on classes that receive their clients in ``__init__`` (see
``activities.http.HttpActivities``), so the worker wires real clients and tests hand in
their own.
"""
