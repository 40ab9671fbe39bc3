"""The Sentiment Analysis app: sa-frontend, sa-web-app, sa-logic (v1, v2, buggy), sa-feedback."""
