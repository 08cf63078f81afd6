"""Campaigns: a marketing template sent once to a segment, through the outbox and the governor.

- ``segments``: the JSON a segment is written in, and its SQL;
- ``planner``: who gets which variant (or the holdout) and when, written as outbox rows;
- ``control``: create, preview, start, pause, resume, cancel, progress;
- ``report``: each variant's funnel and revenue against the holdout.
"""
