"""Headrace's Temporal side: the definition model, its validation and the interpreter."""
