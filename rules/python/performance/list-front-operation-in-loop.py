from collections import deque


def bfs(graph, start):
    queue = [start]
    seen = {start}
    while queue:
        # ruleid: list-front-operation-in-loop
        node = queue.pop(0)
        for nxt in graph[node]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def reversed_copy(items):
    out = []
    for item in items:
        # ruleid: list-front-operation-in-loop
        out.insert(0, item)
    return out


def fine(graph, start, items):
    queue = deque([start])
    while queue:
        # ok: list-front-operation-in-loop
        node = queue.popleft()
        queue.extend(graph[node])
    d = deque()
    for item in items:
        # ok: list-front-operation-in-loop
        d.insert(0, item)
    # ok: list-front-operation-in-loop
    first = items.pop(0)
    for item in items:
        # ok: list-front-operation-in-loop
        items.pop()
    return first, d


def add_paths(dirs):
    import sys

    for d in dirs:
        # ok: list-front-operation-in-loop
        sys.path.insert(0, d)
