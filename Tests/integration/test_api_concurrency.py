"""The control API under load: 1000 sessions open at once while the
behaviour list is replaced again and again; each reply comes from one whole
list, never from half of one."""

from __future__ import annotations

import asyncio
import json
import resource
import threading

import requests

SESSIONS = 1000
TIMEOUT = 60.0


def behaviours(tag: str, code: int) -> str:
    return json.dumps([
        {"command": "RCPT TO", "condition": {"operator": "contains", "matchingValue": "special@"},
         "response": {"code": code, "message": f"{tag} special"}},
        {"command": "RCPT TO", "condition": {"operator": "matchAll"},
         "response": {"code": code, "message": f"{tag} other"}},
    ])


async def reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("connection closed before a reply")
        if line[3:4] != b"-":
            return line.rstrip(b"\r\n")


async def one_session(host: str, port: int, start: asyncio.Event) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        assert (await reply(reader)).startswith(b"220 ")
        await start.wait()
        writer.write(b"EHLO load.test\r\nMAIL FROM:<a@example.com>\r\n")
        assert (await reply(reader)).startswith(b"250")
        assert (await reply(reader)).startswith(b"250")
        # Two RCPTs in one write: each is answered from the list in force when it is read.
        writer.write(b"RCPT TO:<special@example.com>\r\nRCPT TO:<plain@example.com>\r\nQUIT\r\n")
        special, plain = await reply(reader), await reply(reader)
        await reply(reader)
        return special, plain
    finally:
        writer.close()


async def all_sessions(host: str, port: int, replacing: threading.Event) -> list[tuple[bytes, bytes]]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_session(host, port, start)) for _ in range(SESSIONS)]
    # The sessions send their commands once the list is being replaced.
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, replacing.wait, TIMEOUT), "the PUT loop never started"
    start.set()
    return await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)


def test_a_thousand_sessions_see_whole_lists_while_the_list_is_replaced(sinkhole):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SESSIONS + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SESSIONS + 500), hard))
    server = sinkhole("--mode", "accept", "--max-connections", str(SESSIONS + 100))
    url = f"http://127.0.0.1:{server.http_port}/smtpBehaviors"
    lists = [("A", 451), ("B", 452)]
    assert requests.put(url, data=behaviours(*lists[0]), timeout=10).status_code == 204

    stop = threading.Event()
    replacing = threading.Event()
    puts = [0]

    def replace_lists():
        while not stop.is_set():
            tag, code = lists[puts[0] % 2]
            response = requests.put(url, data=behaviours(tag, code), timeout=10)
            assert response.status_code == 204, response.text
            puts[0] += 1
            if puts[0] >= 2:
                replacing.set()

    changer = threading.Thread(target=replace_lists, daemon=True)
    changer.start()
    try:
        results = asyncio.run(all_sessions(server.host, server.port, replacing))
    finally:
        stop.set()
        changer.join(timeout=20)
    assert not changer.is_alive(), "the PUT loop did not stop"
    allowed = {
        b"451 A special", b"451 A other", b"452 B special", b"452 B other",
    }
    for special, plain in results:
        assert special in allowed and special.endswith(b"special"), special
        assert plain in allowed and plain.endswith(b"other"), plain
    assert len(results) == SESSIONS
    # Each session saw whole lists: its two replies may come from two lists
    # (a PUT between them), but each reply from one.
    server.assert_alive()
