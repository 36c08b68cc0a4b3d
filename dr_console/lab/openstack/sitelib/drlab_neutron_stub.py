"""A tiny read-only Neutron for the dr-console lab. Nova needs a `network`
endpoint even for servers booted with networks='none' (docs/lab.md, pitfall
3); every collection is empty, quotas are unlimited, writes are refused.

    python3 drlab_neutron_stub.py PORT
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_VERSIONS = {"versions": [{"id": "v2.0", "status": "CURRENT",
                           "links": [{"rel": "self", "href": "/v2.0/"}]}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "drlab-neutron-stub/1.0"

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if not parts:
            return self._send(200, _VERSIONS)
        if parts[0] != "v2.0":
            return self._send(404, _error("NotFound", "no such version"))
        rest = parts[1:]
        if not rest:
            return self._send(200, {"resources": []})
        name = rest[0].removesuffix(".json")
        if name == "quotas" and len(rest) == 2:
            return self._send(200, {"quota": {"port": -1, "network": -1, "subnet": -1,
                                              "security_group": -1,
                                              "security_group_rule": -1,
                                              "floatingip": -1, "router": -1}})
        if len(rest) == 1:
            return self._send(200, {name: []})
        return self._send(404, _error("NotFound", f"{name} {rest[1]} not found"))

    def _refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(403, _error("Forbidden", "the lab's network service is read-only"))

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def log_message(self, fmt, *args):
        sys.stdout.write(f"{self.log_date_time_string()} {fmt % args}\n")
        sys.stdout.flush()


def _error(kind, message):
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
