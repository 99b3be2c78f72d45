"""A local stand-in for api.github.com (and git over HTTP) that checks every request
the bot sends against GitHub's published REST contract. See server.py."""

from .contract import Contract
from .records import CheckRunView, RequestRecord, Violation
from .server import GitHubStandIn

__all__ = ["CheckRunView", "Contract", "GitHubStandIn", "RequestRecord", "Violation"]
