"""Helpers shared by the fake Live server tests: a bounded event loop, SDK clients, test audio."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import numpy as np
from google import genai
from google.genai import types

from edge_agent.live.fake_server import FakeLiveServer

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
TIMEOUT = 10.0
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
T = TypeVar("T")


def run(scenario: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario, TIMEOUT)

    return asyncio.run(bounded())


def sdk_client(server: FakeLiveServer, api_key: str | None = None, api_version: str = "v1beta") -> genai.Client:
    return genai.Client(
        api_key=api_key or server.api_key,
        http_options=types.HttpOptions(
            base_url=server.base_url,
            api_version=api_version,
            async_client_args={"ssl": server.client_ssl_context()},
        ),
    )


AUDIO_CONFIG = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])


def live(server: FakeLiveServer, config: types.LiveConnectConfig = AUDIO_CONFIG) -> Any:
    return sdk_client(server).aio.live.connect(model=MODEL, config=config)


async def receive_turn(session: Any) -> list[types.LiveServerMessage]:
    return [message async for message in session.receive()]


def tone(seconds: float, rate: int = 16_000, dbfs: float = -20.0, hz: float = 440.0) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    amplitude = 32767 * 10 ** (dbfs / 20) * np.sqrt(2)  # RMS of the sine = dbfs
    return bytes((amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


def silence(seconds: float, rate: int = 16_000) -> bytes:
    return bytes(2 * round(seconds * rate))


def chunks(pcm: bytes, ms: int = 40, rate: int = 16_000) -> list[bytes]:
    size = rate * 2 * ms // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def random_pcm(seconds: float, rate: int, seed: int) -> bytes:
    return bytes(np.random.default_rng(seed).integers(-32768, 32767, round(seconds * rate), dtype="<i2").tobytes())
