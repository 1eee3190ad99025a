"""A polite HTTP client over httpx for the scholarly APIs: a descriptive User-Agent, a least interval between
requests (arXiv asks for 3 s; Crossref states its limit in ``X-Rate-Limit-*`` headers, which are obeyed),
and retries with exponential backoff on 429, 5xx, timeouts and dropped connections, a ``Retry-After`` header
winning. A request that still fails raises :class:`RequestFailed`, whose message names the URL.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from fcmatch.literature.config import HttpSettings

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class RequestFailed(RuntimeError):
    """A request that failed for good; ``url`` and ``status`` (None for a network error) say which and how."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"GET {url}: {reason}")
        self.url, self.status = url, status


class PoliteClient:
    """GET requests to one API, paced and retried.

    Args:
        base_url: the API's root, e.g. ``https://api.crossref.org``.
        settings: User-Agent, timeout, retries and backoff.
        min_interval: least seconds between the starts of two requests.
        sleep, clock: injectable for tests (default ``time.sleep`` and ``time.monotonic``).
        transport: an httpx transport (tests); default the network.
    """

    def __init__(self, base_url: str, settings: HttpSettings, min_interval: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.min_interval = min_interval
        self._sleep, self._clock = sleep, clock
        self._last: float | None = None
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers={"User-Agent": settings.user_agent},
                                    timeout=settings.timeout, follow_redirects=True, transport=transport)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        """The full URL a request for ``path`` with ``params`` goes to."""
        return str(self._client.build_request("GET", path, params=params).url)

    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """A successful (2xx) response, after retries.

        Raises:
            RequestFailed: a non-retryable status (404, say), or retries used up; names the URL.
        """
        with self.stream(path, params) as response:
            response.read()
            return response

    @contextmanager
    def stream(self, path: str, params: dict[str, Any] | None = None) -> Iterator[httpx.Response]:
        """A successful response whose body is read by the caller (``iter_bytes``), after retries.

        A failure while the caller reads the body is not retried here: the caller starts over.

        Raises:
            RequestFailed: as :meth:`get`.
        """
        url = self.url(path, params)
        for attempt in range(self.settings.retries + 1):
            self._pace()
            last = attempt == self.settings.retries
            try:
                request = self._client.build_request("GET", path, params=params)
                response = self._client.send(request, stream=True)
            except httpx.TransportError as err:  # timeouts, refused and dropped connections
                if last:
                    raise RequestFailed(url, f"{type(err).__name__} after {attempt + 1} attempts ({err})") from None
                self._wait(attempt, None, url, type(err).__name__)
                continue
            try:
                self._learn_rate(response)
                if response.status_code in RETRY_STATUS and not last:
                    self._wait(attempt, response, url, f"HTTP {response.status_code}")
                    continue
                if response.is_error:
                    tries = f" after {attempt + 1} attempts" if response.status_code in RETRY_STATUS else ""
                    raise RequestFailed(url, f"HTTP {response.status_code}{tries}", response.status_code)
                yield response
                return
            finally:
                response.close()

    def _pace(self) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval:
            self._sleep(self.min_interval - (now - self._last))
        self._last = self._clock()

    def _wait(self, attempt: int, response: httpx.Response | None, url: str, why: str) -> None:
        delay = min(self.settings.max_backoff, self.settings.backoff * 2 ** attempt)
        after = retry_after(response.headers.get("Retry-After")) if response is not None else None
        if after is not None:
            delay = min(self.settings.max_backoff, after)
        log.info("%s from %s; retrying in %.1f s", why, url, delay)
        self._sleep(delay)

    def _learn_rate(self, response: httpx.Response) -> None:
        """Crossref's ``X-Rate-Limit-Limit: 50`` and ``X-Rate-Limit-Interval: 1s``: at most 50 per second."""
        limit, interval = response.headers.get("X-Rate-Limit-Limit"), response.headers.get("X-Rate-Limit-Interval")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s", (interval or "").strip())
        if limit and limit.strip().isdigit() and int(limit) > 0 and match:
            self.min_interval = max(self.min_interval, float(match.group(1)) / int(limit))


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
