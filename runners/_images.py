"""Images for ``producer`` agents through an image-capable provider (issue 7), via LiteLLM.

:class:`ImageGenerator` calls ``litellm.aimage_generation`` on the model configured in
``Settings.artifacts.image_model`` (any LiteLLM image model: ``openai/gpt-image-1``,
``openai/dall-e-3``, ``azure/...``, ``vertex_ai/imagen...``, or an OpenAI-compatible
server through ``image_api_base``) and returns the image bytes, whether the provider
answers with base64 (``b64_json``) or a URL (fetched with httpx, size-capped). The
format comes from the bytes' signature (PNG, JPEG, WebP, GIF), never from the provider's
word.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

import httpx

from agentgraph.errors import ToolError

#: File signatures of the image formats accepted (from each format's specification).
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
)


def sniff_image(data: bytes) -> tuple[str, str]:
    """``(format, media type)`` of image bytes from their signature.

    Raises:
        ToolError: the bytes are not a PNG, JPEG, WebP or GIF image.
    """
    for magic, fmt, media in _SIGNATURES:
        if data.startswith(magic):
            return fmt, media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp", "image/webp"
    raise ToolError("The image provider answered with something that is not a PNG, JPEG, WebP or GIF image.")


@dataclass
class GeneratedImage:
    """One generated image: bytes, format (``png``...), media type, provider cost in USD (0 when unknown)."""

    data: bytes
    format: str
    media_type: str
    cost_usd: float
    latency_ms: float


class ImageGenerator:
    """Generates images with one LiteLLM image model.

    Args:
        model: LiteLLM model name (``openai/gpt-image-1``...).
        api_base: provider base URL (an OpenAI-compatible server); None: the provider's default.
        api_key: provider key; None: LiteLLM reads the provider's environment variable.
        size: default size (``1024x1024``).
        max_bytes: largest image accepted, bytes (the artifact limit).
        timeout_s: per request, seconds.
    """

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None,
                 size: str = "1024x1024", max_bytes: int = 10 * 1024 * 1024, timeout_s: float = 120.0) -> None:
        self.model, self.api_base, self.api_key = model, api_base, api_key
        self.size, self.max_bytes, self.timeout_s = size, max_bytes, timeout_s

    async def generate(self, prompt: str, *, size: str | None = None) -> GeneratedImage:
        """Generate one image for ``prompt``.

        Raises:
            ToolError: the provider failed, answered without an image, or the image is too big or not an image.
        """
        import litellm  # heavy import: only when an image is asked for

        started = time.perf_counter()
        kwargs: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1, "size": size or self.size,
                                  "timeout": self.timeout_s}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        try:
            resp = await litellm.aimage_generation(**kwargs)
        except Exception as exc:  # provider errors come in many types; the model is told and may retry
            raise ToolError(f"The image model {self.model!r} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
        items = list(getattr(resp, "data", None) or [])
        if not items:
            raise ToolError(f"The image model {self.model!r} answered without an image.")
        item = items[0]
        b64, url = _field(item, "b64_json"), _field(item, "url")
        if b64:
            try:
                data = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ToolError("The image model answered with invalid base64 image data.") from exc
        elif url:
            data = await self._download(url)
        else:
            raise ToolError(f"The image model {self.model!r} answered with neither image data nor a URL.")
        if len(data) > self.max_bytes:
            raise ToolError(f"The image has {len(data)} bytes; the artifact limit is {self.max_bytes}.")
        fmt, media = sniff_image(data)
        hidden = getattr(resp, "_hidden_params", None) or {}
        cost = float(hidden.get("response_cost") or 0.0)
        return GeneratedImage(data=data, format=fmt, media_type=media, cost_usd=cost,
                              latency_ms=(time.perf_counter() - started) * 1000)

    async def _download(self, url: str) -> bytes:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=True) as client:
            async with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise ToolError(f"Downloading the generated image failed with HTTP {resp.status_code}.")
                chunks, total = [], 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise ToolError(f"The generated image exceeds the artifact limit of {self.max_bytes} bytes.")
                    chunks.append(chunk)
        return b"".join(chunks)


def build_image_generator(settings: Any) -> ImageGenerator | None:
    """The generator of ``Settings.artifacts`` (``image_model`` and friends), or None when no model is set."""
    a = settings.artifacts
    if not a.image_model:
        return None
    return ImageGenerator(a.image_model, api_base=a.image_api_base,
                          api_key=a.image_api_key.get_secret_value() if a.image_api_key else None,
                          size=a.image_size, max_bytes=a.max_bytes)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


__all__ = ["GeneratedImage", "ImageGenerator", "build_image_generator", "sniff_image"]
