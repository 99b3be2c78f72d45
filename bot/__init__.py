"""Everything GitHub-facing: the webhook app, App auth, API client, publishing."""
