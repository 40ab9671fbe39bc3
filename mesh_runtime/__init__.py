"""The mesh: pilot, citadel, mixer and the proxy agent that runs Envoy.

Nothing here imports ``labplatform``: the mesh talks to a cluster only
through the Kubernetes API, so it runs unchanged on every backend.
"""
