"""Small pieces every part of the platform shares.

The course server, the terminals, the grader and the mesh runtime must not
import one another's internals (DESIGN.md), yet every process they start
must log the same way. What they share lives here, and only that.
"""
