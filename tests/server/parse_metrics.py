#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Parses a Prometheus text exposition (the file named by argv[1]) with
# prometheus_client's own parser (Debian's python3-prometheus-client) and
# prints each family as JSON: name (a counter's without "_total", as the
# parser gives it), type, help and samples. A malformed exposition makes
# the parser raise: exit status 1 with its message on stderr.
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def value(v):
    return v if math.isfinite(v) else str(v)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = [
            {
                "name": fam.name,
                "type": fam.type,
                "help": fam.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": value(s.value)} for s in fam.samples],
            }
            for fam in text_string_to_metric_families(text)
        ]
    except Exception as e:  # the parser's own error, whatever its class
        print("prometheus_client cannot parse the exposition: %s" % e, file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
