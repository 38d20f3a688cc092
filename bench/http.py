"""A small, cheap HTTP client for the load generator: one connection per request (gunicorn's sync workers
close them anyway), cookies and timing by hand, so that the generator costs little CPU next to the
server it measures on the same two cores."""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
SET_COOKIE_RE = re.compile(r"^([^=;]+)=([^;]*)")


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]
    seconds: float


@dataclass
class Browser:
    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, data: dict | list | None = None) -> Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Host": self.host}
        body = None
        if data is not None:
            body = urlencode(data, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            payload = raw.read().decode("utf-8", "replace")
            elapsed = time.perf_counter() - started
            for header, value in raw.getheaders():
                if header.lower() == "set-cookie" and (match := SET_COOKIE_RE.match(value)):
                    self.cookies[match.group(1).strip()] = match.group(2)
            return Response(raw.status, payload, {k.lower(): v for k, v in raw.getheaders()}, elapsed)
        finally:
            connection.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict | list) -> Response:
        return self.request("POST", path, data)


def hidden_fields(html: str, form_id: str | None = None) -> dict[str, str]:
    if form_id:
        start = html.find(f'id="{form_id}"')
        html = html[start:] if start >= 0 else html
        html = html[: html.find("</form>")]
    return dict(HIDDEN_RE.findall(html))
