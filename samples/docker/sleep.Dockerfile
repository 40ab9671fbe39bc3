# labplatform/sleep: a client to exec into, with curl and openssl.
#   docker build -f samples/docker/sleep.Dockerfile -t labplatform/sleep .
FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl openssl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
CMD ["sleep", "infinity"]
