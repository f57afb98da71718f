#!/usr/bin/python3
"""Reads a Prometheus text exposition with an independent parser (Debian's python3-prometheus-client,
prometheus_client.parser.text_string_to_metric_families) for tests/s3/metrics.sh.

  prom.py check FILE                  parses FILE; checks every histogram (buckets cumulative and
                                      increasing in le, +Inf bucket == _count, _sum present);
                                      prints "NAME TYPE" per family
  prom.py samples FILE                parses FILE; prints each sample as a line
                                      "NAME<TAB>L1=V1<TAB>L2=V2...<TAB>VALUE" (label values with
                                      tabs or newlines are refused), for shell tools
  prom.py value FILE NAME [L=V ...]   the sum of the samples called NAME whose labels include
                                      every L=V; exit 3 when none matches
  prom.py labels FILE NAME LABEL      the values of LABEL among NAME's samples, one a line
"""
import math
import sys
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families


def families(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # The parser is lazy: list() makes it parse (and raise on malformed input) now.
    return list(text_string_to_metric_families(text))


def check(path):
    fams = families(path)
    seen = set()
    for fam in fams:
        if fam.name in seen:
            sys.exit(f"family {fam.name} appears twice")
        seen.add(fam.name)
        print(fam.name, fam.type)
        if fam.type != "histogram":
            continue
        series = defaultdict(lambda: {"buckets": [], "sum": None, "count": None})
        for s in fam.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum"):
                series[key]["sum"] = s.value
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, h in series.items():
            b = h["buckets"]
            if not b or b[-1][0] != math.inf:
                sys.exit(f"{fam.name}{dict(key)}: no +Inf bucket")
            for (le0, v0), (le1, v1) in zip(b, b[1:]):
                if not le1 > le0 or v1 < v0:
                    sys.exit(f"{fam.name}{dict(key)}: buckets not cumulative: {b}")
            if h["count"] is None or h["sum"] is None:
                sys.exit(f"{fam.name}{dict(key)}: _sum or _count missing")
            if b[-1][1] != h["count"]:
                sys.exit(f"{fam.name}{dict(key)}: +Inf bucket {b[-1][1]} != count {h['count']}")


def matching(path, name, wanted):
    for fam in families(path):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in wanted.items()):
                yield s


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "check":
        check(path)
    elif cmd == "samples":
        for fam in families(path):
            for s in fam.samples:
                labels = [f"{k}={v}" for k, v in sorted(s.labels.items())]
                if any("\t" in l or "\n" in l for l in labels):
                    sys.exit(f"{s.name}: a label value with a tab or newline")
                print("\t".join([s.name, *labels, repr(float(s.value))]))
    elif cmd == "value":
        wanted = dict(a.split("=", 1) for a in sys.argv[4:])
        found = list(matching(path, sys.argv[3], wanted))
        if not found:
            sys.exit(3)
        total = sum(s.value for s in found)
        print(int(total) if total == int(total) else repr(total))
    elif cmd == "labels":
        for s in matching(path, sys.argv[3], {}):
            print(s.labels.get(sys.argv[4], ""))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
