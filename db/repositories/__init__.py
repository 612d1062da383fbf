"""Repositories: queries over one session. They ``flush()``; the caller owns the transaction."""
