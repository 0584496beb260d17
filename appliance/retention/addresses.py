"""Visitor addresses made less precise: IPv4 to its /24 network, IPv6 to its /48, written as the network."""

from __future__ import annotations

import ipaddress

PREFIX_V4, PREFIX_V6 = 24, 48


def truncate(address: str) -> str | None:
    """The network the address lies in ("203.0.113.0/24"), which no later sweep changes again; None for text that
    is not an IP address (it cannot be made less precise, so it goes)."""
    if "/" in address:
        return address
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = PREFIX_V4 if ip.version == 4 else PREFIX_V6
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
