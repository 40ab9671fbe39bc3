# labplatform/loadgen: a load generator: docker run labplatform/loadgen -c 2 -n 50 http://host/
# Build from the repository root (the embedded cluster runs the same module):
#   docker build -f samples/docker/loadgen.Dockerfile -t labplatform/loadgen .
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN pip install --no-cache-dir "starlette>=0.40,<1" "uvicorn>=0.30,<1" "httpx>=0.27,<1"
COPY labkit/ labkit/
COPY samples/ samples/
ENTRYPOINT ["python", "-m", "samples.utilities.loadgen"]
CMD ["--help"]
