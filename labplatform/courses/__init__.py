"""Courses on disk: the native format and Killercoda/Katacoda scenarios, loaded and linted.

A course folder holds ``course.yaml`` and one folder per lab (``lab.yaml``
plus step Markdown files with front matter), or is a Killercoda scenario
(``index.json``), which imports unchanged as a course of one lab. Loading
never stops at the first mistake: every problem is collected with its file
and line, so ``labplatform course lint`` can list them all at once.
"""
