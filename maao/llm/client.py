"""LLMClient: one chat completion, served from the response store or a live
OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp), with retries.

The API key is read from the environment at call time and handed straight to
the openai client; it is never stored on this object, in the transcript, in a
record, in a log line or in an exception message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from ..redact import redact, secrets
from .errors import LLMError
from .settings import PLACEHOLDER_API_KEY, LLMSettings, rollout_index
from .store import ResponseStore, build_request, make_record, now_iso, request_key

log = logging.getLogger(__name__)

TRANSIENT_STATUS = {408, 409, 425, 429}  # plus every 5xx
MAX_RETRY_AFTER_S = 60.0


@dataclass
class LLMReply:
    text: str
    key: str  # key of the record that was served / written
    cached: bool
    latency_s: float  # wall time of this call (a cached reply takes ~0)
    usage: dict | None
    model: str | None  # the model the server reported (snapshot)
    fingerprint: str | None
    finish_reason: str | None = None
    source: str = "live"  # "live" | "exact" | "positional"
    request_key: str = ""  # key of the request as asked (differs from key only for "positional")


@dataclass
class _LiveResult:
    text: str
    finish_reason: str | None
    model: str | None
    fingerprint: str | None
    usage: dict | None
    latency_s: float


class _Transient(Exception):
    """Internal: a failure worth retrying (message already free of secrets)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class LLMClient:
    def __init__(
        self,
        settings: LLMSettings,
        store: ResponseStore,
        *,
        run_seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """One client per run: `run_seed` and the count of calls make the
        rollout index under settings.rollout == "per-seed-call"."""
        self.settings = settings
        self.store = store
        self.run_seed = run_seed
        self.calls = 0  # complete() calls so far in this run
        self.transcript: list[dict] = []
        self._sleep = sleep

    def __repr__(self) -> str:
        s = self.settings
        return f"LLMClient(model={s.model!r}, base_url={s.base_url!r}, store={self.store!r})"

    # ------------------------------------------------------------- public
    def complete(
        self,
        messages: list[dict],
        sample_index: int = 0,
        position: tuple[str, int] | None = None,
    ) -> LLMReply:
        """One reply for `messages`.

        sample_index distinguishes independent samples of the same request
        (it is part of the key, never sent to the provider, like DSPy's
        rollout_id). Under settings.rollout == "per-seed-call" it is the rollout
        index of (run_seed, this call's number), and callers pass 0.
        position=(run_key, call_no) lets a replay survive tiny float
        differences in the prompt (see store.ResponseStore.lookup).
        """
        self.calls += 1
        if self.settings.rollout == "per-seed-call":
            if sample_index:
                raise ValueError(f"sample_index={sample_index}: under rollout 'per-seed-call' the client "
                                 "sets it from the run seed and call number; pass 0")
            sample_index = rollout_index(self.run_seed, self.calls)
        request = build_request(self.settings, messages, sample_index)
        req_key = request_key(request)
        started = time.perf_counter()
        mode = self.store.mode

        if mode in ("replay", "record-missing"):
            hit = self.store.lookup(request, position)
            if hit is not None:
                rec = hit.record
                self.store.mark_used(rec["key"])
                if hit.how == "exact":
                    self.store.add_position(rec["key"], position)
                reply = LLMReply(
                    text=rec["response"]["text"],
                    key=rec["key"],
                    cached=True,
                    latency_s=time.perf_counter() - started,
                    usage=rec["meta"].get("usage"),
                    model=rec["meta"].get("model_snapshot"),
                    fingerprint=rec["meta"].get("fingerprint"),
                    finish_reason=rec["response"].get("finish_reason"),
                    source=hit.how,
                    request_key=req_key,
                )
                self._log(request, reply, position, recorded_latency_s=rec["meta"].get("latency_s"),
                          number_differences=hit.differences)
                return reply
            if mode == "replay":
                raise self.store.miss_error(request, position)

        live = self._call_live(request)
        if mode in ("record-missing", "refresh"):
            meta = {
                "model_snapshot": live.model,
                "fingerprint": live.fingerprint,
                "recorded_at": now_iso(),
                "latency_s": round(live.latency_s, 3),
                "usage": live.usage,
                "position": [str(position[0]), int(position[1])] if position else None,
            }
            self.store.save(make_record(request, live.text, live.finish_reason, meta))
            self.store.mark_used(req_key)  # live mode records nothing, so nothing to list in a manifest
        reply = LLMReply(
            text=live.text,
            key=req_key,
            cached=False,
            latency_s=live.latency_s,
            usage=live.usage,
            model=live.model,
            fingerprint=live.fingerprint,
            finish_reason=live.finish_reason,
            source="live",
            request_key=req_key,
        )
        self._log(request, reply, position)
        return reply

    # ----------------------------------------------------------- internals
    def _log(self, request: dict, reply: LLMReply, position, **extra) -> None:
        entry = {
            "key": reply.key,
            "request_key": reply.request_key,
            "request": request,  # semantic request: no key, no URL, no timeout
            "reply": reply.text,
            "finish_reason": reply.finish_reason,
            "cached": reply.cached,
            "cache": "hit" if reply.cached else "miss",
            "source": reply.source,
            "latency_s": round(reply.latency_s, 4),
            "usage": reply.usage,
            "model": reply.model,
            "fingerprint": reply.fingerprint,
            "position": list(position) if position else None,
        }
        if extra.get("number_differences"):
            entry["number_differences"] = [list(d) for d in extra["number_differences"]]
        if extra.get("recorded_latency_s") is not None:
            entry["recorded_latency_s"] = extra["recorded_latency_s"]
        self.transcript.append(entry)
        log.info("LLM %s key=%s latency=%.2fs", reply.source, reply.key[:12], reply.latency_s)

    def _call_live(self, request: dict) -> _LiveResult:
        s = self.settings
        attempts = s.max_retries + 1
        last = ""
        for attempt in range(attempts):
            try:
                return self._call_once(request)
            except _Transient as exc:
                last = str(exc)
                if attempt + 1 >= attempts:
                    break
                delay = s.backoff_s * (2**attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_S))
                log.warning("LLM call failed (%s); retry %d/%d in %.2fs", last, attempt + 1, s.max_retries, delay)
                self._sleep(delay)
        raise LLMError(f"LLM call to {s.base_url} failed after {attempts} attempt(s): {last}")

    def _call_once(self, request: dict) -> _LiveResult:
        import openai

        s = self.settings
        api_key = s.read_api_key()
        kwargs = {
            "model": request["model"],
            "messages": request["messages"],
            "temperature": request["temperature"],
            "max_tokens": request["max_tokens"],
        }
        # Only what is set is sent: some servers reject explicit nulls.
        for name in ("top_p", "seed", "stop"):
            if request[name] is not None:
                kwargs[name] = request[name]
        started = time.perf_counter()
        try:
            client = openai.OpenAI(base_url=s.base_url, api_key=api_key, timeout=s.timeout_s, max_retries=0)
            resp = _within(s.timeout_s, lambda: client.chat.completions.create(**kwargs), client.close)
        except openai.APITimeoutError:
            raise _Transient(f"timed out after {s.timeout_s}s") from None
        except openai.APIConnectionError as exc:
            raise _Transient(f"cannot connect to {s.base_url} ({_scrub(type(exc.__cause__ or exc).__name__, api_key)})") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, api_key) from None
        latency = time.perf_counter() - started
        return _parse_completion(resp, latency, s.base_url)

    def _status_error(self, exc, api_key: str) -> Exception:
        s = self.settings
        status = exc.status_code
        detail = _scrub(_server_message(exc), api_key)
        if status >= 500 or status in TRANSIENT_STATUS:
            return _Transient(f"HTTP {status} {detail}".strip(), _retry_after(exc))
        if status == 401:
            msg = f"authentication failed at {s.base_url}: set {s.api_key_env} to a valid key"
        elif status == 403:
            msg = f"permission denied at {s.base_url} for model {s.model!r} (check {s.api_key_env}'s access)"
        elif status == 404:
            msg = f"model {s.model!r} not found at {s.base_url} (or wrong base_url path)"
        elif status in (400, 422):
            msg = f"request rejected by {s.base_url} (HTTP {status}); check model/max_tokens/stop settings"
        else:
            msg = f"HTTP {status} from {s.base_url}"
        return LLMError(f"{msg}. Server said: {detail}" if detail else msg)


def _parse_completion(resp, latency: float, base_url: str) -> _LiveResult:
    """Validate the shape; a body that is not a chat completion (a proxy's
    HTML page, truncated JSON) is treated as transient."""
    try:
        choice = resp.choices[0]
        content = choice.message.content
        if content is not None and not isinstance(content, str):
            raise TypeError("content is not a string")
    except Exception:
        raise _Transient(f"malformed response from {base_url} (not a chat completion: "
                         f"{redact(str(resp)[:80])!r})") from None
    usage = None
    if getattr(resp, "usage", None) is not None:
        u = resp.usage
        usage = {
            k: getattr(u, k)
            for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            if isinstance(getattr(u, k, None), int)
        }
    return _LiveResult(
        text=redact(content or ""),  # a reply echoing the key is never recorded with it
        finish_reason=getattr(choice, "finish_reason", None),
        model=getattr(resp, "model", None),
        fingerprint=getattr(resp, "system_fingerprint", None),
        usage=usage,
        latency_s=latency,
    )


def _server_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return ""


def _within(seconds: float, call: Callable, abort: Callable):
    """`call()` with `seconds` as a deadline for the whole reply: httpx's
    timeout bounds each read, so a body that trickles in would never time out.
    The call runs on a daemon thread; at the deadline the HTTP client is closed
    and the attempt counts as a timeout (transient, retried)."""
    import threading

    out: dict = {}

    def work():
        try:
            out["value"] = call()
        except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
            out["error"] = err

    thread = threading.Thread(target=work, name="maao-llm-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        abort()
        raise _Transient(f"timed out after {seconds}s (reply not complete)")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _retry_after(exc) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    import email.utils

    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time()) if when is not None else None
    return None


def _scrub(text: str, api_key: str) -> str:
    """Servers sometimes echo the key, or any part of it, in error bodies."""
    return redact(text, secrets() | ({api_key} if api_key and api_key != PLACEHOLDER_API_KEY else set()))
