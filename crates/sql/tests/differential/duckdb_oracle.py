"""DuckDB as the oracle of silt's differential SQL test.

Reads one JSON request per line on stdin and answers one JSON line on
stdout. Requests:
  {"op": "reset"}                      a new in-memory database
  {"op": "run", "sql": s}              BEGIN, then s; the transaction stays
                                       open until "commit" or "rollback"
  {"op": "commit"} / {"op": "rollback"}
  {"op": "query", "sql": s}            rows of a query, no transaction
Answers: {"ok": true, "rows": [[value, ...], ...]} or {"ok": false,
"error": text}. Every value is a canonical string, as the Rust side
renders silt's values (see canon.rs): NULL, numbers without trailing
zeros, floats in scientific notation, quoted strings, D-dates, T-times.
"""
import datetime
import decimal
import json
import sys

import duckdb


def canon(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, decimal.Decimal)):
        t = format(decimal.Decimal(v), "f")
        if "." in t:
            t = t.rstrip("0").rstrip(".")
        return "0" if t in ("-0", "") else t
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v == 0:
            v = 0.0
        m, e = f"{v:.9e}".split("e")
        return f"{m}e{int(e)}"
    if isinstance(v, str):
        return "'" + v + "'"
    if isinstance(v, datetime.datetime):
        return "T" + v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return "D" + v.isoformat()
    return "?" + repr(v)


def main():
    con = duckdb.connect()
    in_txn = False
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "reset":
                con.close()
                con = duckdb.connect()
                in_txn = False
                out = {"ok": True, "rows": []}
            elif op in ("commit", "rollback"):
                if in_txn:
                    con.execute(op.upper())
                in_txn = False
                out = {"ok": True, "rows": []}
            else:
                if op == "run":
                    con.execute("BEGIN")
                    in_txn = True
                rows = con.execute(req["sql"]).fetchall()
                out = {"ok": True, "rows": [[canon(v) for v in r] for r in rows]}
        except Exception as e:  # noqa: BLE001 - every engine error is an answer
            if in_txn:
                try:
                    con.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - DuckDB may have aborted it already
                    pass
                in_txn = False
            out = {"ok": False, "error": str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
