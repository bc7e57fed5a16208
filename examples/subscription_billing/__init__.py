"""Subscription billing: a monthly timer for years, continue-as-new, a cancel update."""
