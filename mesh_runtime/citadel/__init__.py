"""citadel: the mesh's certificate authority (root, workload certificates, rotation)."""
