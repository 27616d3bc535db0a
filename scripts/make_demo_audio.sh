#!/bin/sh
# Regenerates the demo's voice clips in edge_agent/assets/ (committed, so the demo needs no TTS).
# Needs espeak-ng and sox (apt-get install espeak-ng sox). The clips are 16-bit mono WAV:
# the user's question at 16 kHz (what the microphone hears), the model's replies at 24 kHz
# (what the Live API sends).
set -eu
out="$(dirname "$0")/../edge_agent/assets"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
say() { # voice rate text file
    espeak-ng -v "$1" -s 165 -w "$tmp/raw.wav" "$3"
    sox "$tmp/raw.wav" -r "$2" -c 1 -b 16 "$tmp/norm.wav" norm -3 silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
    mv "$tmp/norm.wav" "$4"
}
say en-gb+f3 16000 "Please turn on the kitchen light." "$out/demo_question.wav"
say en-us 24000 "Sure, turning on the kitchen light." "$out/demo_reply_1.wav"
say en-us 24000 "Done. The kitchen light is on." "$out/demo_reply_2.wav"
