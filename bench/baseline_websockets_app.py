"""Second floor for the fan-out benchmark: a bare broadcast server on the `websockets` library (asyncio).

No Socket.IO, no Engine.IO (no pings in frames, no packet prefixes), no database: each text frame is one
JSON message ``{"event", "data", "id"}``. ``join_board`` adds the connection to the audience; ``post_idea``
numbers the idea, sends it once to every member with ``websockets``' ``broadcast`` (an idea payload of the
same shape as Atelier's) and acknowledges with ``{"ack": id, "data": ...}``. Compression off, as for
Socket.IO's websockets here. Run: ``python bench/baseline_websockets_app.py --port P``.
"""

import argparse
import asyncio
import itertools
import json

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

AUDIENCE = set()
SEQ = itertools.count(1)


async def handler(websocket) -> None:
    try:
        async for message in websocket:
            request = json.loads(message)
            data = request.get("data") or {}
            if request.get("event") == "join_board":
                AUDIENCE.add(websocket)
                answer = {"ok": True, "events": [], "seq": 0}
            elif request.get("event") == "post_idea":
                n = next(SEQ)
                idea = {"id": n, "column_id": data["column_id"], "cluster_id": None, "sort_key": f"a{n:06d}",
                        "text": data["text"], "status": "visible", "version": 1, "author": "Personne",
                        "mine": False, "reactions": {}, "votes": 0}
                broadcast(AUDIENCE, json.dumps({"event": "change", "data": {
                    "seq": n, "after": n - 1, "events": [{"name": "idea_posted", "payload": {"idea": idea}}]}}))
                answer = {"ok": True, "seq": n, "idea_id": n, "status": "visible"}
            else:
                answer = {"ok": False, "error": {"code": "unknown_event", "message": "unknown event"}}
            if "id" in request:
                await websocket.send(json.dumps({"ack": request["id"], "data": answer}))
    except ConnectionClosed:
        pass
    finally:
        AUDIENCE.discard(websocket)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=64 * 1024, max_queue=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
