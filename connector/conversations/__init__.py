"""Conversations with shoppers: what they write to the shop, and the thread an operator reads.

``inbound`` records each incoming message and acts on it (opt-in answers, STOP/START
keywords, the cash-on-delivery Confirm/Cancel buttons, the auto-reply); it sits above
messaging, consent and the store layer because a reply can touch all three. ``thread``
reads one contact's conversation back.
"""
