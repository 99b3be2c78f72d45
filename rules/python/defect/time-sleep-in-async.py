import asyncio
import time
from time import sleep


async def poll(client):
    while not await client.ready():
        # ruleid: time-sleep-in-async
        time.sleep(0.5)
    # ruleid: time-sleep-in-async
    sleep(1)


class Worker:
    async def run(self, loop):
        def blocking():
            # ok: time-sleep-in-async
            time.sleep(2)

        await loop.run_in_executor(None, blocking)
        # ok: time-sleep-in-async
        await loop.run_in_executor(None, lambda: time.sleep(1))
        # ok: time-sleep-in-async
        await asyncio.sleep(1)


def sync_retry():
    # ok: time-sleep-in-async
    time.sleep(1)


async def retry(op):
    for _ in range(3):
        try:
            return await op()
        except OSError:
            # ruleid: time-sleep-in-async
            time.sleep(0.1)
