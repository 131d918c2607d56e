"""Projections: views of the event log, folded by pure functions, written by a runner."""
