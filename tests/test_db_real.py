"""Real database clients (unmodified) on pyasync's loop, compared with
asyncio's: asyncpg with a pool against a real PostgreSQL, redis-py's
asyncio client (`redis.asyncio`) against a real Redis.

The servers come from scripts/services.sh:

    bash scripts/services.sh start
    eval "$(bash scripts/services.sh env)"
    .venv/bin/python -m pytest tests/test_db_real.py

Without PYASYNC_TEST_PG_DSN / PYASYNC_TEST_REDIS_URL in the environment
(or in the env file `services.sh start` writes) a test skips and says how
to start the servers; under CI (the variable CI set) it fails instead, so
that a CI run cannot pass without having run them.

Each scenario is a `main()` returning a record of what the client saw; it
runs on an asyncio loop and on a pyasync loop and the records must be
equal.  Some scenarios restart the server under the client (with
`services.sh restart pg|redis`, run in an executor thread so that the loop
sees the connections go down)."""
import asyncio
import os
import subprocess

import pytest

import bothloops
from bothloops import run_on

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICES = os.path.join(os.path.dirname(HERE), "scripts", "services.sh")
ENV_FILE = os.path.join(
    os.environ.get("PYASYNC_SERVICES_DIR", "/tmp/pyasync-services"), "env")


def service_env(var):
    """The server address in `var`, or skip (fail under CI) saying why."""
    value = os.environ.get(var)
    if not value and os.path.exists(ENV_FILE):
        with open(ENV_FILE) as f:
            for line in f:
                name, _, rest = line.removeprefix("export ").strip().partition("=")
                if name == var:
                    value = rest
    if not value:
        msg = (f"{var} is not set: start the test servers with "
               f"`bash scripts/services.sh start` "
               f"(and `eval \"$(bash scripts/services.sh env)\"`)")
        if os.environ.get("CI"):
            pytest.fail(f"CI: {msg}", pytrace=False)
        pytest.skip(msg)
    return value


def restart(which):
    script = os.environ.get("PYASYNC_SERVICES", SERVICES)
    # Under scripts/sanitize.sh the servers must not inherit the
    # sanitizers' preload.
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    done = subprocess.run(["bash", script, "restart", which], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def restart_in_thread(which):
    await asyncio.get_running_loop().run_in_executor(None, restart, which)


def assert_same(main):
    return bothloops.assert_same(
        main, run=lambda impl, m: run_on(impl, m, timeout=90))


def outcome(exc):
    return ("raised", type(exc).__name__)


# ---- asyncpg --------------------------------------------------------------

@pytest.fixture
def pg_dsn():
    pytest.importorskip("asyncpg")
    return service_env("PYASYNC_TEST_PG_DSN")


def test_asyncpg_pool_transactions(pg_dsn):
    import asyncpg

    async def main():
        rec = []
        async with asyncpg.create_pool(pg_dsn, min_size=2, max_size=5) as pool:
            await pool.execute("DROP TABLE IF EXISTS pyasync_tx")
            await pool.execute("CREATE TABLE pyasync_tx "
                               "(id int PRIMARY KEY, who text, n int)")

            async def worker(w):
                async with pool.acquire() as conn:
                    try:
                        async with conn.transaction():
                            for i in range(5):
                                await conn.execute(
                                    "INSERT INTO pyasync_tx VALUES ($1, $2, $3)",
                                    w * 100 + i, f"w{w}", i)
                            # A savepoint rolled back inside the transaction.
                            try:
                                async with conn.transaction():
                                    await conn.execute(
                                        "UPDATE pyasync_tx SET n = n + 1000 "
                                        "WHERE who = $1", f"w{w}")
                                    raise KeyError("undo the savepoint")
                            except KeyError:
                                pass
                            if w % 4 == 3:
                                raise ValueError("roll back the whole")
                            await asyncio.sleep(0)
                        return "committed"
                    except ValueError as exc:
                        return f"rolled back: {exc}"
            rec.append(await asyncio.gather(*(worker(w) for w in range(20))))
            # A unique violation surfaces as asyncpg's own exception.
            try:
                await pool.execute("INSERT INTO pyasync_tx VALUES (0, 'x', 0)")
            except asyncpg.UniqueViolationError as exc:
                rec.append(("unique", exc.sqlstate))
            rows = await pool.fetch("SELECT who, count(*) AS c, sum(n) AS s "
                                    "FROM pyasync_tx GROUP BY who ORDER BY who")
            rec.append([tuple(r) for r in rows])
            async with pool.acquire() as conn:
                rec.append(("types", await conn.fetchrow(
                    "SELECT 1::int, 2.5::float8, 'é'::text, "
                    "ARRAY[1,2,3], '{\"a\": 1}'::json, NULL::int")))
            await pool.execute("DROP TABLE pyasync_tx")
        return [tuple(x) if not isinstance(x, list) else x for x in rec]
    assert_same(main)


def test_asyncpg_cursors(pg_dsn):
    import asyncpg

    async def main():
        rec = []
        async with asyncpg.create_pool(pg_dsn, min_size=1, max_size=3) as pool:
            async with pool.acquire() as conn:
                async with conn.transaction():
                    total = 0
                    count = 0
                    async for row in conn.cursor(
                            "SELECT g, repeat('x', g % 50) FROM "
                            "generate_series(1, 5000) g", prefetch=97):
                        total += row[0] + len(row[1])
                        count += 1
                    rec.append(("iterated", count, total))
                    cur = await conn.cursor(
                        "SELECT g FROM generate_series(1, 1000) g")
                    rec.append(("fetch", [r[0] for r in await cur.fetch(5)]))
                    rec.append(("forward", await cur.forward(500)))
                    rec.append(("fetchrow", tuple(await cur.fetchrow())))
                    rec.append(("rest", len(await cur.fetch(10000))))
                    # Prepared statements with a cursor each, interleaved.
                    stmt = await conn.prepare(
                        "SELECT g * $1 FROM generate_series(1, 300) g")
                    a = stmt.cursor(2, prefetch=10).__aiter__()
                    b = stmt.cursor(3, prefetch=7).__aiter__()
                    pairs = [((await a.__anext__())[0], (await b.__anext__())[0])
                             for _ in range(50)]
                    rec.append(("interleaved", pairs[0], pairs[-1]))
            try:
                async with pool.acquire() as conn:
                    await conn.cursor("SELECT 1")
            except asyncpg.NoActiveSQLTransactionError as exc:
                rec.append(("no transaction", type(exc).__name__))
            except asyncpg.InterfaceError as exc:
                rec.append(("no transaction", type(exc).__name__))
        return rec
    assert_same(main)


def test_asyncpg_cancelled_query_leaves_pool_usable(pg_dsn):
    import asyncpg

    async def main():
        rec = []
        async with asyncpg.create_pool(pg_dsn, min_size=2, max_size=2) as pool:
            # A timeout (wait_for) cancels the query in the middle.
            try:
                await asyncio.wait_for(pool.fetchval("SELECT pg_sleep(30)"), 0.3)
            except asyncio.TimeoutError as exc:
                rec.append(outcome(exc))
            # task.cancel() on a query holding a connection.
            task = asyncio.create_task(pool.fetchval(
                "SELECT count(*) FROM pg_sleep(30), generate_series(1, 10)"))
            await asyncio.sleep(0.3)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                rec.append(("cancelled", task.cancelled()))
            # asyncpg's own timeout= (server-side cancel request).
            try:
                await pool.fetchval("SELECT pg_sleep(30)", timeout=0.3)
            except asyncio.TimeoutError as exc:
                rec.append(("timeout=", outcome(exc)))
            # The pool still serves, both connections at once.
            vals = await asyncio.gather(*(
                pool.fetchval("SELECT $1::int * 2 FROM pg_sleep(0.01)", i)
                for i in range(12)))
            rec.append(("after", vals))
            # No query of ours is left running on the server.
            left = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' "
                "AND pid <> pg_backend_pid()")
            rec.append(("left running", left))
            rec.append(("pool size", pool.get_size()))
        return rec
    rec = assert_same(main)
    assert ("left running", 0) in rec


def test_asyncpg_server_restart_under_pool(pg_dsn):
    import asyncpg

    async def main():
        rec = []
        async with asyncpg.create_pool(pg_dsn, min_size=3, max_size=3) as pool:
            rec.append(await asyncio.gather(*(
                pool.fetchval("SELECT $1::int", i) for i in range(6))))
            await restart_in_thread("pg")
            # The pool notices its connections went away and opens new ones.
            after = []
            for i in range(4):
                try:
                    after.append(await pool.fetchval("SELECT $1::int + 1", i))
                except (asyncpg.PostgresError, asyncpg.InterfaceError,
                        OSError) as exc:
                    after.append(outcome(exc))
            rec.append(after)
            rec.append(await asyncio.gather(*(
                pool.fetchval("SELECT $1::int", i) for i in range(6))))
            # A connection held across the restart is closed for good.
            conn = await pool.acquire()
            await restart_in_thread("pg")
            try:
                await conn.fetchval("SELECT 1")
                rec.append("held connection still worked")
            except (asyncpg.PostgresError, asyncpg.InterfaceError,
                    OSError) as exc:
                rec.append(("held", outcome(exc)))
            try:
                rec.append(("closed", conn.is_closed()))
            except asyncpg.InterfaceError as exc:
                # The pool took the dead connection back already.
                rec.append(("closed", outcome(exc)))
            await pool.release(conn)
            rec.append(await pool.fetchval("SELECT 42"))
        return rec
    assert_same(main)


# ---- redis-py asyncio ---------------------------------------------------------

@pytest.fixture
def redis_url():
    pytest.importorskip("redis")
    return service_env("PYASYNC_TEST_REDIS_URL")


def test_redis_pipelines_and_transactions(redis_url):
    import redis.asyncio as redis
    from redis.exceptions import WatchError

    async def main():
        rec = []
        r = redis.from_url(redis_url, decode_responses=True)
        try:
            await r.flushdb()
            async with r.pipeline(transaction=True) as pipe:
                pipe.set("a", 1).incr("a").incrby("a", 40).get("a")
                pipe.rpush("l", *range(10)).lrange("l", 2, 5)
                pipe.hset("h", mapping={"x": "1", "y": "2"}).hgetall("h")
                rec.append(("multi", await pipe.execute()))
            async with r.pipeline(transaction=False) as pipe:
                for i in range(500):
                    pipe.set(f"k{i}", "v" * (i % 40))
                for i in range(0, 500, 50):
                    pipe.strlen(f"k{i}")
                res = await pipe.execute()
                rec.append(("no multi", res.count(True), res[500:]))
            # An error inside a pipeline, reported in place.
            async with r.pipeline(transaction=False) as pipe:
                pipe.set("s", "text").incr("s").get("s")
                res = await pipe.execute(raise_on_error=False)
                rec.append(("errors", [type(x).__name__ if isinstance(
                    x, Exception) else x for x in res]))

            # WATCH: a concurrent change aborts the transaction once.
            await r.set("counter", 0)
            attempts = []

            async def bump(rival):
                async with r.pipeline(transaction=True) as pipe:
                    while True:
                        try:
                            await pipe.watch("counter")
                            value = int(await pipe.get("counter"))
                            if rival and not attempts:
                                await r.incr("counter")   # the rival writes
                            pipe.multi()
                            pipe.set("counter", value + 10)
                            await pipe.execute()
                            attempts.append("ok")
                            return value + 10
                        except WatchError:
                            attempts.append("watch error")
            rec.append(("watch", await bump(True), attempts))
            # Many clients' pipelines at once on one pool.
            async def many(i):
                async with r.pipeline() as pipe:
                    pipe.incr("shared").lpush("ids", i).expire("ids", 100)
                    return (await pipe.execute())[1:]
            res = await asyncio.gather(*(many(i) for i in range(50)))
            rec.append(("shared", int(await r.get("shared")),
                        sorted(int(x) for x in await r.lrange("ids", 0, -1)),
                        len(res)))
        finally:
            await r.aclose()
        return rec
    assert_same(main)


def test_redis_pubsub(redis_url):
    import redis.asyncio as redis

    async def main():
        rec = []
        r = redis.from_url(redis_url, decode_responses=True)
        try:
            pubsub = r.pubsub()
            await pubsub.subscribe("news", "sport")
            await pubsub.psubscribe("log.*")
            for _ in range(3):
                rec.append(await pubsub.get_message(timeout=2))

            async def publish():
                counts = []
                for i in range(30):
                    ch = ("news", "sport", "log.error", "log.info", "other")[i % 5]
                    counts.append(await r.publish(ch, f"m{i}"))
                await r.publish("news", "stop")
                return counts
            pub = asyncio.create_task(publish())
            got = []
            async for msg in pubsub.listen():
                if msg["type"] in ("message", "pmessage"):
                    if msg["data"] == "stop":
                        break
                    got.append((msg["type"], msg["channel"],
                                msg.get("pattern"), msg["data"]))
            rec.append(("published", await pub))
            rec.append(("received", got))
            await pubsub.unsubscribe("sport")
            rec.append(await pubsub.get_message(timeout=2))
            await r.publish("sport", "unheard")
            await r.publish("news", "heard")
            msgs = []
            while (m := await pubsub.get_message(timeout=0.5)) is not None:
                msgs.append(m)
            rec.append(("after unsubscribe", msgs))
            await pubsub.aclose()
        finally:
            await r.aclose()
        return rec
    assert_same(main)


def test_redis_server_restart(redis_url):
    import redis.asyncio as redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def main():
        rec = []
        r = redis.from_url(redis_url, decode_responses=True)
        try:
            await r.flushdb()
            await asyncio.gather(*(r.set(f"k{i}", i) for i in range(10)))
            rec.append(await r.mget([f"k{i}" for i in range(10)]))
            await restart_in_thread("redis")
            # The server came back empty (no persistence); the client
            # reconnects on its own.
            after = []
            for i in range(3):
                try:
                    after.append(await r.get(f"k{i}"))
                except (RedisConnectionError, OSError) as exc:
                    after.append(outcome(exc))
            rec.append(after)
            await r.set("again", "yes")
            rec.append(await r.get("again"))
            # A subscriber across a restart: its connection is lost.
            pubsub = r.pubsub()
            await pubsub.subscribe("ch")
            rec.append((await pubsub.get_message(timeout=2))["type"])
            await restart_in_thread("redis")
            try:
                m = await pubsub.get_message(timeout=1)
                rec.append(("subscriber", m))
            except (RedisConnectionError, OSError) as exc:
                rec.append(("subscriber", outcome(exc)))
            await pubsub.aclose()
            rec.append(await r.ping())
        finally:
            await r.aclose()
        return rec
    assert_same(main)
