"""Lab utilities: an httpbin-compatible service and a load generator for the terminal."""
