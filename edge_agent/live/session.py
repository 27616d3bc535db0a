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
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import websockets
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from edge_agent import events as ev
from edge_agent.errors import SessionError
from edge_agent.settings import ListeningSettings, LiveSettings
from edge_agent.tools import ToolSpec

_LOGGER = logging.getLogger(__name__)

AUDIO_IN_MIME = "audio/pcm;rate=16000"


@dataclass(frozen=True, slots=True)
class HandleUpdate:
    """``sessionResumptionUpdate``: the newest handle, and whether resuming is possible now."""

    handle: str | None
    resumable: bool


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """``usageMetadata``: the (cumulative within a turn) total token count."""

    total_tokens: int


SessionItem = ev.Event | HandleUpdate | UsageUpdate
"""What :meth:`LiveLink.events` yields: conversation events, and session bookkeeping."""


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


def translate(message: types.LiveServerMessage, received_at: float | None = None) -> list[ev.Event]:
    """Turn one server message into our events, in a fixed order. Pure.

    One message may carry several audio parts *and* transcripts (Gemini 3.1), so
    every field is looked at. ``received_at`` (``time.monotonic()`` at arrival) is passed
    on with reply audio and ``interrupted``, for the latency figures.
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
                    out.append(ev.ModelAudioReceived(blob.data, received_at))
        if content.output_transcription is not None and content.output_transcription.text:
            out.append(ev.OutputTranscribed(content.output_transcription.text))
        if content.interrupted:
            out.append(ev.ModelInterrupted(received_at))
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

    async def send_signal(self, kind: str) -> None:
        """Send ``activity_start``, ``activity_end`` or ``audio_stream_end``. Raises LinkClosed."""
        try:
            if kind == "activity_start":
                await self._session.send_realtime_input(activity_start=types.ActivityStart())
            elif kind == "activity_end":
                await self._session.send_realtime_input(activity_end=types.ActivityEnd())
            elif kind == "audio_stream_end":
                await self._session.send_realtime_input(audio_stream_end=True)
            else:
                raise ValueError(f"unknown signal {kind!r}")
        except ValueError:
            raise
        except Exception as e:
            raise _closed(e) from e

    async def send_text(self, text: str) -> None:
        """Send text as user input (``realtimeInput.text``). Raises LinkClosed."""
        try:
            await self._session.send_realtime_input(text=text)
        except Exception as e:
            raise _closed(e) from e

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

    async def events(self) -> AsyncIterator[SessionItem]:
        """Yield events and session updates until the connection ends, then raise LinkClosed.

        ``session.receive()`` stops at every turnComplete, so it is called again
        for every turn; only an exception ends this loop.
        """
        try:
            while True:
                async for message in self._session.receive():
                    update = message.session_resumption_update
                    if update is not None:
                        yield HandleUpdate(update.new_handle, bool(update.resumable))
                    if message.usage_metadata is not None and message.usage_metadata.total_token_count:
                        yield UsageUpdate(message.usage_metadata.total_token_count)
                    for event in translate(message, time.monotonic()):
                        yield event
        except Exception as e:
            raise _closed(e) from e


_START = {"high": types.StartSensitivity.START_SENSITIVITY_HIGH, "low": types.StartSensitivity.START_SENSITIVITY_LOW}
_END = {"high": types.EndSensitivity.END_SENSITIVITY_HIGH, "low": types.EndSensitivity.END_SENSITIVITY_LOW}


def realtime_input_config(listening: ListeningSettings) -> types.RealtimeInputConfig:
    """Server VAD with the configured tuning, or disabled for push-to-talk (activityStart/End)."""
    if listening.turn_detection == "push_to_talk":
        return types.RealtimeInputConfig(automatic_activity_detection=types.AutomaticActivityDetection(disabled=True))
    return types.RealtimeInputConfig(
        automatic_activity_detection=types.AutomaticActivityDetection(
            disabled=False,
            start_of_speech_sensitivity=_START.get(listening.vad_start_sensitivity),
            end_of_speech_sensitivity=_END.get(listening.vad_end_sensitivity),
            prefix_padding_ms=listening.vad_prefix_padding_ms or None,
            silence_duration_ms=listening.vad_silence_duration_ms or None,
        )
    )


class LiveClient:
    """Connects to the Live API with the configured model, voice, tools and turn detection.

    One google-genai ``Client`` per API key or token (created on first use, reused).
    """

    def __init__(
        self,
        settings: LiveSettings,
        listening: ListeningSettings,
        tools: Sequence[ToolSpec],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        if ssl_context is None and settings.ca_file is not None:
            ssl_context = ssl.create_default_context()
            ssl_context.load_verify_locations(cafile=str(settings.ca_file))
        self._ssl_context = ssl_context
        self._clients: dict[str, genai.Client] = {}
        self.config = self._connect_config(tools, listening)

    def _client(self, api_key: str) -> genai.Client:
        client = self._clients.get(api_key)
        if client is None:
            s = self.settings
            # The websocket keepalive tolerates the service's slow pongs (8-30 s have been measured);
            # the SDK passes these through to websockets' connect().
            args: dict[str, object] = {"ping_interval": s.keepalive_interval_s, "ping_timeout": s.keepalive_timeout_s}
            if self._ssl_context is not None:
                args["ssl"] = self._ssl_context
            ephemeral = api_key.startswith("auth_tokens/")
            http_options = types.HttpOptions(
                base_url=s.base_url or None,
                api_version="v1alpha" if ephemeral else s.api_version,  # tokens work on v1alpha only
                async_client_args=args,
            )
            self._clients = {api_key: genai.Client(api_key=api_key, http_options=http_options)}  # one at a time
            client = self._clients[api_key]
        return client

    def _connect_config(self, tools: Sequence[ToolSpec], listening: ListeningSettings) -> types.LiveConnectConfig:
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
            realtime_input_config=realtime_input_config(listening),
            context_window_compression=types.ContextWindowCompressionConfig(
                trigger_tokens=25600, sliding_window=types.SlidingWindow(target_tokens=12800)
            )
            if s.context_compression
            else None,
        )

    @contextlib.asynccontextmanager
    async def connect(self, api_key: str, handle: str | None = None) -> AsyncIterator[LiveLink]:
        """Open a connection, resuming ``handle`` when given (waits for ``setupComplete``).

        Raises LinkClosed on any failure. Resumption is always requested, so the server
        keeps sending fresh handles.
        """
        config = self.config.model_copy(update={"session_resumption": types.SessionResumptionConfig(handle=handle)})
        try:
            async with self._client(api_key).aio.live.connect(model=self.settings.model, config=config) as session:
                yield LiveLink(session)
        except LinkClosed:
            raise
        except (genai_errors.APIError, websockets.WebSocketException, OSError, ValueError) as e:
            raise _closed(e) from e  # ValueError: the SDK refused the credential before dialling
