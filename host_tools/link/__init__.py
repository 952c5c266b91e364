"""The serial link to the board (docs/protocol.md): `wire` frames bytes, `messages`
gives the bodies meaning. firmware/link.py is the board's side of the same protocol."""

from host_tools.link.messages import (Alert, BodyError, CanBatch, CanRecord, Credit, Hello, Log, Ping,
                                      Signal, Stats, Stop, Sync, Telemetry, TelemetryRecord,
                                      board_receiver, decode_body, decode_frame, host_receiver,
                                      split_batches, wide_signals)
from host_tools.link.wire import (CreditWindow, Frame, FrameEncoder, StreamDecoder, encode_frame)

__all__ = ["Alert", "BodyError", "CanBatch", "CanRecord", "Credit", "CreditWindow", "Frame",
           "FrameEncoder", "Hello", "Log", "Ping", "Signal", "Stats", "Stop", "StreamDecoder", "Sync",
           "Telemetry", "TelemetryRecord", "board_receiver", "decode_body", "decode_frame",
           "encode_frame", "host_receiver", "split_batches", "wide_signals"]
