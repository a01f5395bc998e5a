"""Alerts: judgement, grouping, escalation, cancellation, delivery (PRODUCT.md §4)."""
