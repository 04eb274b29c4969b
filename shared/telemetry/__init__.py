"""Metrics and (later) traces for every service."""
