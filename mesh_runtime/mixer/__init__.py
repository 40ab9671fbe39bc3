"""mixer: the mesh's telemetry (metrics, the service graph) from every proxy's reports."""
