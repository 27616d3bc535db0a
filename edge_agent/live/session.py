"""The Live session: the only module that imports google.genai.

:class:`LiveClient` turns settings into a ``client.aio.live.connect`` call (AUDIO
responses, voice, system instruction, both transcriptions, the output tools,
context-window compression) and yields a :class:`LiveLink`: send microphone audio
and tool results, and iterate the server's messages as our own events
(:mod:`edge_agent.events`). Every way a connection can end surfaces as one exception,
:class:`LinkClosed`, carrying the close code (1006 when there was no close frame).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Sequence

import websockets
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from edge_agent import events as ev
from edge_agent.errors import SessionError
from edge_agent.settings import ApiKey, LiveSettings
from edge_agent.tools import ToolSpec

_LOGGER = logging.getLogger(__name__)

AUDIO_IN_MIME = "audio/pcm;rate=16000"


class LinkClosed(SessionError):
    """The Live connection ended (or could not be set up). ``code`` is the WebSocket close code."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code if code is not None else 'no code'}: {reason or '(no reason)'}")


def _closed(error: BaseException) -> LinkClosed:
    """Map whatever the SDK or the socket raised to :class:`LinkClosed`."""
    if isinstance(error, LinkClosed):
        return error
    if isinstance(error, genai_errors.APIError):
        reason = error.message or str(error.details or error.status or "")
        return LinkClosed(error.code, reason)
    if isinstance(error, websockets.ConnectionClosed):
        frame = error.rcvd
        return LinkClosed(frame.code if frame else 1006, frame.reason if frame else "abnormal closure")
    return LinkClosed(None, f"{type(error).__name__}: {error}")


def _seconds(duration: str | None) -> float:
    """Parse a protobuf Duration string such as ``"10s"`` or ``"0.500s"``."""
    if not duration:
        return 0.0
    try:
        return float(duration.rstrip("s"))
    except ValueError:
        return 0.0


def translate(message: types.LiveServerMessage) -> list[ev.Event]:
    """Turn one server message into our events, in a fixed order. Pure.

    One message may carry several audio parts *and* transcripts (Gemini 3.1), so
    every field is looked at.
    """
    out: list[ev.Event] = []
    content = message.server_content
    if content is not None:
        if content.input_transcription is not None and content.input_transcription.text:
            t = content.input_transcription
            out.append(ev.InputTranscribed(t.text or "", bool(t.finished)))
        if content.model_turn is not None:
            for part in content.model_turn.parts or ():
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
                    out.append(ev.ModelAudioReceived(blob.data))
        if content.output_transcription is not None and content.output_transcription.text:
            out.append(ev.OutputTranscribed(content.output_transcription.text))
        if content.interrupted:
            out.append(ev.ModelInterrupted())
        if content.generation_complete:
            out.append(ev.GenerationCompleted())
        if content.turn_complete:
            out.append(ev.TurnCompleted())
    if message.tool_call is not None and message.tool_call.function_calls:
        calls = tuple(
            ev.ToolCall(fc.id or "", fc.name or "", dict(fc.args or {})) for fc in message.tool_call.function_calls
        )
        out.append(ev.ToolCallsReceived(calls))
    if message.tool_call_cancellation is not None and message.tool_call_cancellation.ids:
        out.append(ev.ToolCallsCancelled(tuple(message.tool_call_cancellation.ids)))
    if message.go_away is not None:
        out.append(ev.GoAwayReceived(_seconds(message.go_away.time_left)))
    return out


class LiveLink:
    """One open Live connection.

    Thread: event loop. Sends may run concurrently with :meth:`events` (the SDK's
    websocket allows one reader and many writers).
    """

    def __init__(self, session: genai.live.AsyncSession) -> None:
        self._session = session
        self.audio_bytes_sent = 0
        self.frames_sent = 0

    async def send_audio(self, pcm: bytes) -> None:
        """Send one chunk of 16 kHz 16-bit mono microphone audio. Raises LinkClosed."""
        try:
            await self._session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=AUDIO_IN_MIME))
        except Exception as e:
            raise _closed(e) from e
        self.audio_bytes_sent += len(pcm)

    async def send_video(self, jpeg: bytes) -> None:
        """Send one camera still (JPEG). Raises LinkClosed."""
        try:
            await self._session.send_realtime_input(video=types.Blob(data=jpeg, mime_type="image/jpeg"))
        except Exception as e:
            raise _closed(e) from e
        self.frames_sent += 1

    async def send_tool_results(self, results: Sequence[ev.ToolResult]) -> None:
        """Answer tool calls (each response keeps its call's id and name). Raises LinkClosed."""
        responses = [types.FunctionResponse(id=r.id, name=r.name, response=dict(r.response)) for r in results]
        try:
            await self._session.send_tool_response(function_responses=responses)
        except Exception as e:
            raise _closed(e) from e

    async def close(self) -> None:
        """Close the connection normally (code 1000). Idempotent; never raises."""
        try:
            await self._session.close()
        except Exception as e:  # already closed or broken: nothing left to do
            _LOGGER.debug("closing the Live connection: %s", e)

    async def events(self) -> AsyncIterator[ev.Event]:
        """Yield events until the connection ends, then raise LinkClosed.

        ``session.receive()`` stops at every turnComplete, so it is called again
        for every turn; only an exception ends this loop.
        """
        try:
            while True:
                async for message in self._session.receive():
                    if message.usage_metadata is not None:
                        _LOGGER.debug("usage: %s", message.usage_metadata.total_token_count)
                    for event in translate(message):
                        yield event
        except Exception as e:
            raise _closed(e) from e


class LiveClient:
    """Connects to the Live API with the configured model, voice and tools."""

    def __init__(
        self,
        settings: LiveSettings,
        api_key: ApiKey,
        tools: Sequence[ToolSpec],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        if ssl_context is None and settings.ca_file is not None:
            ssl_context = ssl.create_default_context()
            ssl_context.load_verify_locations(cafile=str(settings.ca_file))
        http_options = types.HttpOptions(
            base_url=settings.base_url or None,
            api_version=settings.api_version,
            async_client_args={"ssl": ssl_context} if ssl_context is not None else None,
        )
        self._client = genai.Client(api_key=api_key.reveal(), http_options=http_options)
        self.config = self._connect_config(tools)

    def _connect_config(self, tools: Sequence[ToolSpec]) -> types.LiveConnectConfig:
        s = self.settings
        declarations = [
            types.FunctionDeclaration(
                name=t.name,
                description=t.description,
                parameters=types.Schema.model_validate(t.parameters) if t.parameters else None,
            )
            for t in tools
        ]
        return types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=s.voice)),
                language_code=s.language_code or None,
            ),
            system_instruction=types.Content(role="user", parts=[types.Part(text=s.system_instruction)])
            if s.system_instruction
            else None,
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            tools=[types.Tool(function_declarations=declarations)] if declarations else None,
            context_window_compression=types.ContextWindowCompressionConfig(
                trigger_tokens=25600, sliding_window=types.SlidingWindow(target_tokens=12800)
            ),
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[LiveLink]:
        """Open a connection (waits for ``setupComplete``); raises LinkClosed on any failure."""
        try:
            async with self._client.aio.live.connect(model=self.settings.model, config=self.config) as session:
                yield LiveLink(session)
        except LinkClosed:
            raise
        except (genai_errors.APIError, websockets.WebSocketException, OSError) as e:
            raise _closed(e) from e
