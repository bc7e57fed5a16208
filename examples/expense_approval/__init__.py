"""Expense approval: a decision by update or signal, escalation after a timer, queries."""
