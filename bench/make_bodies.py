#!/usr/bin/env python3
"""Request bodies for bench/serve.sh, made from a (synthetic) customer CSV.

Writes into OUT_DIR: batch.json (the first BATCH customers as a JSON array, every column,
numbers as JSON numbers), single.json (one customer object), batch.csv (the same customers
as CSV), and the malformed bodies bad_*.json. Standard library only.
"""
import csv
import json
import sys


def main():
    src, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))[:batch]
    if len(rows) < batch:
        sys.exit(f"{src} has only {len(rows)} customers; need {batch}")

    def obj(r):
        return {k: (v if k == "CUST_ID" else (None if v == "" else float(v))) for k, v in r.items()}

    customers = [obj(r) for r in rows]
    with open(f"{out}/batch.json", "w") as f:
        json.dump(customers, f, separators=(",", ":"))
    with open(f"{out}/single.json", "w") as f:
        json.dump(customers[0], f, separators=(",", ":"))
    with open(f"{out}/batch.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    bad = {
        # truncated JSON
        "bad_truncated.json": '[{"CUST_ID":"C1","BALANCE":12.5,"PURCHASES":',
        # a feature that is not a number (400 naming field and index)
        "bad_field.json": '[{"BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3},{"BALANCE":"12abc"}]',
        # NaN token
        "bad_nan.json": '[{"BALANCE":NaN,"PURCHASES":2,"CREDIT_LIMIT":3}]',
        # wrong shape
        "bad_shape.json": '[[1,2,3],"x"]',
        # deeply nested junk (recursion limit)
        "bad_nested.json": "[" * 5000 + "]" * 5000,
    }
    for name, text in bad.items():
        with open(f"{out}/{name}", "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
