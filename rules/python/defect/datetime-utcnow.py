import datetime as dt
from datetime import datetime, timezone


def stamp(event):
    # ruleid: datetime-utcnow
    event["at"] = datetime.utcnow()
    # ruleid: datetime-utcnow
    event["seen"] = dt.datetime.utcnow().isoformat()
    # ruleid: datetime-utcnow
    event["created"] = datetime.utcfromtimestamp(event["ts"])
    # ok: datetime-utcnow
    event["now"] = datetime.now(timezone.utc)
    # ok: datetime-utcnow
    event["from_ts"] = datetime.fromtimestamp(event["ts"], tz=timezone.utc)
    # ok: datetime-utcnow
    event["local"] = datetime.now()
    return event
