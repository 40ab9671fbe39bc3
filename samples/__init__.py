"""Sample applications the labs run: the Sentiment Analysis app and the lab utilities."""
