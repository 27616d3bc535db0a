"""Scripted conversations for the fake Live server: what it hears, and what it says back.

A :class:`Script` is a list of :class:`Step` values. Each step waits for a *trigger* (the
``On*`` classes and :class:`After`), then performs its *actions* in order. Message actions
render to Live API server messages (camelCase proto3 JSON, see ``live-protocol.md`` §5);
:class:`Wait`, :class:`Close` and :class:`Drop` act on the connection and are carried out by
:mod:`edge_agent.live.fake_server`.

Scripts come from :data:`BUILTIN_SCRIPTS` or from a JSON file (:func:`load_script`).

This module is the one place to import all of it from; the parts live in:

- :mod:`edge_agent.live.fake_wire`: wire helpers (key spelling, base64, durations, PCM) and
  :class:`ClientMessage`;
- :mod:`edge_agent.live.fake_steps`: triggers, actions, :class:`Step` and :class:`Script`;
- :mod:`edge_agent.live.fake_watch`: watching client messages for a trigger;
- :mod:`edge_agent.live.fake_render`: rendering actions into server messages;
- :mod:`edge_agent.live.fake_script_json`: built-in scripts and the JSON script loader.

Everything is pure (no asyncio, no sockets) except :func:`load_script`, which reads files.
"""

from __future__ import annotations

from edge_agent.live.fake_render import Outgoing, RenderContext, audio_messages, render
from edge_agent.live.fake_script_json import BUILTIN_SCRIPTS, echo_script, load_script, script_from_json
from edge_agent.live.fake_steps import (
    Action,
    After,
    Audio,
    Close,
    Drop,
    Echo,
    FunctionCallSpec,
    GenerationComplete,
    GoAway,
    InputTranscript,
    Interrupted,
    MessageAction,
    OnAudio,
    OnSetup,
    OnSpeechEnd,
    OnText,
    OnToolResponse,
    OutputTranscript,
    Raw,
    ResumptionUpdate,
    Script,
    Step,
    ToolCall,
    ToolCallCancellation,
    Trigger,
    TurnComplete,
    Usage,
    Wait,
)
from edge_agent.live.fake_watch import Watcher, watch
from edge_agent.live.fake_wire import (
    INPUT_RATE,
    MAX_CLOSE_REASON_BYTES,
    OUTPUT_RATE,
    ClientMessage,
    JsonDict,
    b64decode_any,
    b64encode,
    duration,
    field,
    pcm_rate,
    resample_linear,
    to_camel,
    to_snake,
    truncate_reason,
)

__all__ = [
    # fake_wire
    "INPUT_RATE",
    "MAX_CLOSE_REASON_BYTES",
    "OUTPUT_RATE",
    "ClientMessage",
    "JsonDict",
    "b64decode_any",
    "b64encode",
    "duration",
    "field",
    "pcm_rate",
    "resample_linear",
    "to_camel",
    "to_snake",
    "truncate_reason",
    # fake_steps: triggers
    "After",
    "OnAudio",
    "OnSetup",
    "OnSpeechEnd",
    "OnText",
    "OnToolResponse",
    "Trigger",
    # fake_steps: actions
    "Action",
    "Audio",
    "Close",
    "Drop",
    "Echo",
    "FunctionCallSpec",
    "GenerationComplete",
    "GoAway",
    "InputTranscript",
    "Interrupted",
    "MessageAction",
    "OutputTranscript",
    "Raw",
    "ResumptionUpdate",
    "ToolCall",
    "ToolCallCancellation",
    "TurnComplete",
    "Usage",
    "Wait",
    # fake_steps: scripts
    "Script",
    "Step",
    # fake_watch
    "Watcher",
    "watch",
    # fake_render
    "Outgoing",
    "RenderContext",
    "audio_messages",
    "render",
    # fake_script_json
    "BUILTIN_SCRIPTS",
    "echo_script",
    "load_script",
    "script_from_json",
]
