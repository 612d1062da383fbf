"""Headrace HTTP API: the FastAPI application, its CLI and its services."""
