"""Client addresses as the widget's limits count them: the address, its network (IPv4 /24, IPv6 /64), the sender."""

from __future__ import annotations

import ipaddress

UNKNOWN = "unknown"
IPV4_NETWORK_BITS, IPV6_NETWORK_BITS = 24, 64


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address((text or "").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_of(text: str | None) -> str:
    """The address in its one canonical spelling (::ffff:192.0.2.1 is 192.0.2.1), or UNKNOWN."""
    address = _address(text)
    return str(address) if address is not None else UNKNOWN


def network_of(text: str | None) -> str:
    """The /24 (IPv4) or /64 (IPv6) the address is in: one site, one household, one cloud customer's block."""
    address = _address(text)
    if address is None:
        return UNKNOWN
    bits = IPV4_NETWORK_BITS if address.version == 4 else IPV6_NETWORK_BITS
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def sender_of(text: str | None) -> str:
    """What a per-visitor limit keys on, which a browser cannot reset as it can its token: the IPv4 address, or the
    IPv6 /64, since a host picks any address of its /64 at will (privacy addresses)."""
    address = _address(text)
    if address is None:
        return UNKNOWN
    return str(address) if address.version == 4 else network_of(text)
