"""Learners' clusters: one interface, three backends (embedded, kind, kubernetes)."""
