"""The suite's own helpers, where a mistake would make tests fail at random."""

from __future__ import annotations

import socket

from tests.support import _ephemeral_low, free_port


def test_free_ports_are_bindable_and_never_ones_outgoing_connections_take() -> None:
    """A port from the ephemeral range can be taken by any client socket of the suite
    between the choice and the server's bind (CI once failed so: "address already in
    use"); the helper picks below that range, at random."""
    low = _ephemeral_low()
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= port < low for port in ports)
    assert len(ports) > 40  # random, so two test processes rarely pick the same one
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            assert client.getsockname()[1] >= low  # where the kernel puts outgoing ones
