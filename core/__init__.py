"""Infrastructure every Headrace process shares: the API, the worker and the CLI.

Settings, encryption, object storage (and the Temporal payload codec on it), the event bus and
its message format, the outbound network guard, integrations and their credentials, reading
secret values, and the access rules. It imports none of ``api``, ``activities``, ``worker`` or
``cli`` (checked by the import contracts in pyproject.toml), so each of them can build on it.
"""
