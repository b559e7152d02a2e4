"""Scrapes a Prometheus endpoint and parses it with prometheus-client's own parser.

Prints one JSON document: {"status": HTTP status, "contentType": ..., "samples":
[{"family": ..., "type": ..., "name": ..., "labels": {...}, "value": ...}]}.
A response the parser refuses makes this script fail (exit 1), with the parser's error.
"""
import json
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

url = sys.argv[1]
try:
    response = urllib.request.urlopen(url, timeout=10)
    status, body, content_type = response.status, response.read().decode(), response.headers.get("Content-Type")
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "contentType": e.headers.get("Content-Type"), "samples": []}))
    sys.exit(0)

samples = []
for family in text_string_to_metric_families(body):
    for s in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": s.name,
                        "labels": s.labels, "value": s.value})
print(json.dumps({"status": status, "contentType": content_type, "samples": samples}))
