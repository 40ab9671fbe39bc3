# labplatform/sa-logic:v1|v2|buggy: the sentiment model (VADER, lexicon in the package).
# Build from the repository root, once per tag:
#   docker build -f samples/docker/sa-logic.Dockerfile --build-arg VERSION=v2 -t labplatform/sa-logic:v2 .
FROM python:3.11-slim
ARG VERSION=v1
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 SA_LOGIC_VERSION=$VERSION
WORKDIR /app
RUN pip install --no-cache-dir "starlette>=0.40,<1" "uvicorn>=0.30,<1" "httpx>=0.27,<1" \
    "vaderSentiment>=3.3,<4"
COPY labkit/ labkit/
COPY samples/ samples/
EXPOSE 5000
ENTRYPOINT ["python", "-m", "samples.sentiment.logic"]
