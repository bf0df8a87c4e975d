"""A tiny client for hangard's native /v1 API, shared by the examples.

Every /v1 request is signed with SigV4 (signing name `hangar`, any region); botocore does the
signing. The WebSocket event stream is an ordinary signed GET whose headers are sent with the
upgrade request.
"""

import http.client
import json
import os
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class Hangar:
    def __init__(self, endpoint=None, key_id=None, secret=None):
        self.endpoint = (endpoint or os.environ.get("HANGAR_ENDPOINT")
                         or "http://127.0.0.1:7770").rstrip("/")
        key_id = key_id or os.environ.get("HANGAR_KEY_ID")
        secret = secret or os.environ.get("HANGAR_SECRET")
        if not key_id or not secret:
            raise SystemExit("need an access key: --key-id/--secret or HANGAR_KEY_ID/HANGAR_SECRET")
        self.creds = Credentials(key_id, secret)
        u = urllib.parse.urlsplit(self.endpoint)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = None

    def signed_headers(self, method, path, body=b""):
        req = AWSRequest(method=method, url=self.endpoint + path, data=body,
                         headers={"Content-Type": "application/json"} if body else {})
        SigV4Auth(self.creds, "hangar", "us-east-1").add_auth(req)
        return dict(req.prepare().headers)

    def call(self, method, path, body=None):
        """One request on a kept-alive connection -> (HTTP status, JSON answer)."""
        data = json.dumps(body).encode() if body is not None else b""
        headers = self.signed_headers(method, path, data)
        for attempt in (1, 2):  # a kept-alive connection may have been closed meanwhile
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, body=data or None, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else {})
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def ws_url_and_headers(self, path):
        """The ws:// URL of path and the signed headers for its upgrade request."""
        h = self.signed_headers("GET", path)
        url = "ws://%s:%d%s" % (self.host, self.port, path)
        return url, ["Authorization: " + h["Authorization"], "X-Amz-Date: " + h["X-Amz-Date"]]
