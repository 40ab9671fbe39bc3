"""The course server's routes, one module per area: courses, joining, sessions, dashboard."""
