"""Headrace's metadata store: SQLAlchemy models, repositories and Alembic migrations."""
