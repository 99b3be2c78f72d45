"""The web service as a WSGI application, built from the environment.

`provenfix serve` runs it under gunicorn; any WSGI server can use the factory:

    gunicorn 'bot.wsgi:create_app_from_env()'

Each gunicorn worker process calls the factory once (the app is not preloaded),
so every process opens its own Redis and database connections.

The factory ends with `gc.freeze()`: the ~150,000 objects that importing Flask,
SQLAlchemy, rq and the bot create live as long as the process, and without it
the garbage collector's occasional full collection scans them all, a pause of
tens of milliseconds for whichever webhook deliveries are waiting behind it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping

from flask import Flask
from redis import Redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from provenfix.bot.db import Database
from provenfix.bot.queue import analysis_queue
from provenfix.bot.settings import load_settings
from provenfix.bot.webapp import create_app


def web_redis(url: str) -> Redis:
    """The web process's Redis client: short timeouts and one quick retry, so a webhook or
    a health check answers "Redis is down" in about a second instead of hanging."""
    return Redis.from_url(
        url,
        socket_connect_timeout=1,
        socket_timeout=5,
        retry=Retry(ConstantBackoff(0.05), 1),
    )


def create_app_from_env(env: Mapping[str, str] | None = None) -> Flask:
    settings = load_settings(os.environ if env is None else env)
    redis = web_redis(settings.redis_url)
    db = Database(settings.database_url)
    db.create_all()
    app = create_app(settings, redis=redis, queue=analysis_queue(settings, redis), db=db)
    gc.collect()
    gc.freeze()  # what start-up made stays: full collections no longer scan it (see above)
    return app
