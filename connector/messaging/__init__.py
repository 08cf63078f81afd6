"""Outbox, send governor, pacing and delivery-status bookkeeping."""
