"""A Kubernetes-API-compatible server for lab clusters."""
