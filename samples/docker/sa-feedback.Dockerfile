# labplatform/sa-feedback: feedback, stored in SQLite on /srv
# Build from the repository root (the embedded cluster runs the same module):
#   docker build -f samples/docker/sa-feedback.Dockerfile -t labplatform/sa-feedback .
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 FEEDBACK_DB=/srv/feedback.db
WORKDIR /app
RUN pip install --no-cache-dir "starlette>=0.40,<1" "uvicorn>=0.30,<1" "httpx>=0.27,<1"
COPY labkit/ labkit/
COPY samples/ samples/
EXPOSE 80
ENTRYPOINT ["python", "-m", "samples.sentiment.feedback"]
VOLUME /srv
