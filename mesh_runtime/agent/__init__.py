"""The proxy agent (pilot-agent's job): Envoy's bootstrap, and Envoy's life beside the app."""
