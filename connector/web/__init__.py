"""The web layer: one blueprint per audience (``connector.app`` registers them), and what they share
(``errors``, ``security``)."""
