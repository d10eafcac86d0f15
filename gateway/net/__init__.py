"""Thin asyncio adapters: decode wire data, feed the core, carry out its commands."""
