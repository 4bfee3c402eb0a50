"""The node's own framing of outbound text frames (reference_server/wsconn.py) is byte for
byte what websockets would send, and the outbox hands frames out in order, a close last."""

from __future__ import annotations

import asyncio

from websockets.frames import Frame, Opcode

from reference_server.outbox import Outbox
from reference_server.wsconn import text_frames


def test_text_frames_match_websockets_serialisation() -> None:
    for n in (0, 1, 125, 126, 127, 65_535, 65_536, 100_000):
        data = b"x" * n
        assert text_frames([data]) == Frame(Opcode.TEXT, data).serialize(mask=False,
                                                                          extensions=[])
    assert text_frames(["h\u00e9", b"ok"]) == b"\x81\x03h\xc3\xa9\x81\x02ok"


def test_the_outbox_batches_in_order_and_stops_at_a_close() -> None:
    async def main() -> None:
        box = Outbox()
        waiting = asyncio.create_task(box.take(10))
        await asyncio.sleep(0)
        assert not waiting.done()
        box.put("a")
        box.put(b"b")
        assert await waiting == (["a", b"b"], None)
        for i in range(5):
            box.put(str(i))
        box.put((4004, "idle"))
        box.put("after")
        assert await box.take(3) == (["0", "1", "2"], None)
        assert await box.take(3) == (["3", "4"], (4004, "idle"))
        assert len(box) == 1

    asyncio.run(main())


def test_the_outbox_weighs_what_it_holds() -> None:
    async def main() -> None:
        box = Outbox()
        box.put("abc")
        box.put(b"de")
        box.put((4003, "overloaded"))  # a close weighs nothing
        assert box.size == 5
        assert await box.take(1) == (["abc"], None)
        assert box.size == 2
        box.put("xyz")
        box.clear()
        assert box.size == 0 and len(box) == 0

    asyncio.run(main())


def test_the_outbox_batch_stops_past_its_bytes() -> None:
    async def main() -> None:
        box = Outbox()
        for text in ("a" * 100, "b" * 100, "c" * 100, "d" * 500):
            box.put(text)
        assert await box.take(10, 150) == (["a" * 100, "b" * 100], None)
        assert await box.take(10, 150) == (["c" * 100, "d" * 500], None)
        box.put("e" * 900)  # one frame over the bound still goes, alone
        box.put("f")
        assert await box.take(10, 150) == (["e" * 900], None)
        assert box.size == 1

    asyncio.run(main())
