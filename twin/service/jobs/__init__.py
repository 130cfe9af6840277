"""Durable jobs: the kinds of work, the sandboxed child that runs one, and the worker loop."""
