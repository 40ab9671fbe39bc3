"""The auto-grader: runs a step's checks against a learner's live cluster."""
