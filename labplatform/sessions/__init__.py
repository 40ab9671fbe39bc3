"""Learners' lab sessions: who is working on which lab, in which cluster, until when."""
