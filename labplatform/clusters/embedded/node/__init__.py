"""The embedded cluster's node: its sandbox, kubelet, service proxy and DNS."""
