"""Read-only query of Airflow's SQLite metadata DB: argv = db path, SQL, JSON params; prints JSON rows."""

import json
import sqlite3
import sys
import time

db, sql, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
for attempt in range(100):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = [list(r) for r in con.execute(sql, params)]
        finally:
            con.close()
        break
    except sqlite3.OperationalError as exc:  # a writer holds the lock, or the schema is not there yet
        if attempt == 99 or not ("locked" in str(exc) or "no such table" in str(exc) or "unable to open" in str(exc)):
            raise
        time.sleep(0.1)
print(json.dumps(rows, default=str))
