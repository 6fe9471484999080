"""Odoo's bus, the way Odoo does it (psycopg2, as Odoo uses; run with Debian's python3): a listener
connection to the `postgres` database runs LISTEN imbus; another connection NOTIFYs on it after a
commit; the listener must receive it. Connection settings as JSON on stdin; one JSON line out."""

import json
import select
import sys
import time

import psycopg2

cfg = json.load(sys.stdin)
out: dict[str, object] = {}


def connect(dbname):
    return psycopg2.connect(host=cfg["host"], port=cfg["port"], dbname=dbname, user=cfg["user"],
                            password=cfg["password"], sslmode=cfg["sslmode"], sslrootcert=cfg["rootcert"],
                            connect_timeout=5)


try:
    app = connect(cfg["dbname"])
    with app.cursor() as cr:
        cr.execute("SELECT current_user, current_database()")
        out["app_db"] = list(cr.fetchone())
    app.close()
    listener = connect(cfg["bus_dbname"])
    listener.autocommit = True
    with listener.cursor() as cr:
        cr.execute("LISTEN imbus")
    sender = connect(cfg["bus_dbname"])
    payload = json.dumps({"contract": time.time()})
    with sender.cursor() as cr:
        cr.execute("SELECT pg_notify('imbus', %s)", (payload,))
    sender.commit()
    got: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not got:
        if select.select([listener], [], [], 0.5)[0]:
            listener.poll()
            got = [n.payload for n in listener.notifies if n.channel == "imbus"]
    out["received"] = payload in got
except Exception as e:  # noqa: BLE001 - reported to the test
    out["error"] = str(e).strip()
print(json.dumps(out))
