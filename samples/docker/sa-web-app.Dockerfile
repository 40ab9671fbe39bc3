# labplatform/sa-web-app: the Sentiment Analysis API
# Build from the repository root (the embedded cluster runs the same module):
#   docker build -f samples/docker/sa-web-app.Dockerfile -t labplatform/sa-web-app .
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN pip install --no-cache-dir "starlette>=0.40,<1" "uvicorn>=0.30,<1" "httpx>=0.27,<1"
COPY labkit/ labkit/
COPY samples/ samples/
EXPOSE 8080
ENTRYPOINT ["python", "-m", "samples.sentiment.web_app"]
