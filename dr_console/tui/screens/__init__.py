"""Screens of the console. One per question the operator asks: the
inventory now; the guided runbook and the drill screens later."""
