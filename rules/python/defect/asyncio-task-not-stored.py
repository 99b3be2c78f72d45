import asyncio

background_tasks = set()


async def work(n):
    await asyncio.sleep(n)


async def main(items, loop):
    # ruleid: asyncio-task-not-stored
    asyncio.create_task(work(1))
    # ruleid: asyncio-task-not-stored
    asyncio.ensure_future(work(2))
    # ruleid: asyncio-task-not-stored
    loop.create_task(work(3))
    # ruleid: asyncio-task-not-stored
    asyncio.get_running_loop().create_task(work(4))
    # ruleid: asyncio-task-not-stored
    asyncio.create_task(work(5)).add_done_callback(print)

    # ok: asyncio-task-not-stored
    task = asyncio.create_task(work(1))
    background_tasks.add(task)
    task.add_done_callback(background_tasks.discard)
    # ok: asyncio-task-not-stored
    tasks = [asyncio.create_task(work(i)) for i in items]
    background_tasks.add(
        # ok: asyncio-task-not-stored
        asyncio.create_task(work(6))
    )
    # ok: asyncio-task-not-stored
    await asyncio.create_task(work(7))
    # ok: asyncio-task-not-stored
    await asyncio.gather(*tasks, asyncio.ensure_future(work(8)))
    async with asyncio.TaskGroup() as tg:
        # ok: asyncio-task-not-stored
        tg.create_task(work(9))
    # ok: asyncio-task-not-stored
    return asyncio.create_task(work(10))


class Service:
    def start(self):
        # ok: asyncio-task-not-stored
        self._task = asyncio.create_task(work(1))
        # ok: asyncio-task-not-stored
        self.pending: set = {asyncio.create_task(work(2))}


async def named():
    # ruleid: asyncio-task-not-stored
    asyncio.create_task(work(1), name="refresh")
    # ok: asyncio-task-not-stored
    registry = dict(refresh=asyncio.create_task(work(2), name="refresh"))
    return registry
