"""A Python client of the IM server, generated with grpcio-tools: alice sends bob a message,
bob receives it on his live stream, syncs the conversation and marks it read, over gRPC.

    python -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
    .venv/bin/python -m grpc_tools.protoc -I proto --python_out=examples/python/gen \\
        --grpc_python_out=examples/python/gen --pyi_out=examples/python/gen proto/im/v1/*.proto
    .venv/bin/python examples/python/scenario.py

Only proto/im/v1 is generated: the vendored grpc/health and grpc/reflection protos would
generate into a `grpc` directory that grpcio's own `grpc` package hides (grpcio ships those
services as grpcio-health-checking and grpcio-reflection), and proto/im/internal is not part
of the API.

Settings come from the environment: IM_TARGET (host:port, default 127.0.0.1:8080),
IM_ALICE / IM_BOB (user ids, default alice and bob) and their UserSigs IM_ALICE_SIG /
IM_BOB_SIG, plus IM_ADMIN_SIG to import both accounts first.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402

from im.v1 import (  # noqa: E402
    account_pb2,
    account_pb2_grpc,
    elements_pb2,
    events_pb2,
    events_pb2_grpc,
    message_pb2,
    message_pb2_grpc,
)

# A hang guard per call, not a pace: the scenario takes milliseconds.
DEADLINE_S = 60


def auth(sig_var):
    """Every call carries a UserSig; app servers mint them with any TLSSigAPIv2 library."""
    return [("authorization", f"Bearer {os.environ.get(sig_var, '')}")]


def main():
    target = os.environ.get("IM_TARGET", "127.0.0.1:8080")
    alice = os.environ.get("IM_ALICE", "alice")
    bob = os.environ.get("IM_BOB", "bob")
    with grpc.insecure_channel(target) as channel:
        if os.environ.get("IM_ADMIN_SIG"):
            account_pb2_grpc.AccountServiceStub(channel).ImportAccounts(
                account_pb2.ImportAccountsRequest(
                    accounts=[account_pb2.Account(user_id=alice), account_pb2.Account(user_id=bob)]
                ),
                metadata=auth("IM_ADMIN_SIG"),
                timeout=DEADLINE_S,
            )

        stream = events_pb2_grpc.EventServiceStub(channel).Subscribe(
            events_pb2.SubscribeRequest(device_id="bob-python"),
            metadata=auth("IM_BOB_SIG"),
            timeout=DEADLINE_S,
        )
        # Send only once the stream is live: "ready" comes first.
        if next(stream).WhichOneof("event") != "ready":
            raise SystemExit("stream did not start with ready")

        messages = message_pb2_grpc.MessageServiceStub(channel)
        sent = messages.SendMessage(
            message_pb2.SendMessageRequest(
                to_user_id=bob,
                body=[elements_pb2.MessageElement(text=elements_pb2.TextElement(text="hello bob, from Python"))],
                client_message_id=f"py-{time.time_ns()}",
            ),
            metadata=auth("IM_ALICE_SIG"),
            timeout=DEADLINE_S,
        )
        print(f"alice sent seq {sent.seq} in {sent.conversation_id}", flush=True)

        received = None
        for event in stream:
            if event.WhichOneof("event") == "message" and event.message.seq == sent.seq:
                received = event.message
                break
        stream.cancel()
        if received is None:
            raise SystemExit("stream ended before the message arrived")
        print(f"bob received seq {received.seq}: {received.body[0].text.text}", flush=True)

        synced = messages.SyncMessages(
            message_pb2.SyncMessagesRequest(peer_user_id=alice),
            metadata=auth("IM_BOB_SIG"),
            timeout=DEADLINE_S,
        )
        print(f"bob synced {len(synced.messages)} message(s), last seq {synced.last_seq}", flush=True)

        read = messages.MarkRead(
            message_pb2.MarkReadRequest(peer_user_id=alice),
            metadata=auth("IM_BOB_SIG"),
            timeout=DEADLINE_S,
        )
        print(f"bob read up to seq {read.read_seq}; unread now {read.unread_count}", flush=True)


if __name__ == "__main__":
    main()
