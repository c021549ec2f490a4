"""Where a webhook may be sent (PURE: standard library only).

A subscriber chooses the URL, the service makes the request: without rules, a subscription is a
way to make the server POST to its cloud's metadata service, to private networks or to itself,
and the delivery history reports what answered. The rules:

- the URL has no whitespace or control characters (no header injection through the request line);
- an address is refused when it is not a public unicast address: unspecified, "this network",
  private (10/8, 172.16/12, 192.168/16, fc00::/7), shared CGNAT space (100.64/10), link-local
  (169.254/16, fe80::/10), cloud metadata services, multicast, documentation, benchmarking and
  reserved ranges; IPv6 forms embedding an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by
  that IPv4 address;
- loopback (127/8, ``::1``, ``localhost``) only when :attr:`TargetPolicy.allow_loopback` is on;
- never the service itself (its listen address and its issuer's host and port; a ``localhost``
  name there covers every loopback address on that port).

A host written as a number in another form than four decimal parts (``2130706433``, ``0x7f.1``,
``0177.0.0.1``) is refused at subscription: resolvers read them as IPv4 addresses, people do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address

# (network, what it is), most specific first where they overlap.
_IPV4_RULES: tuple[tuple[IPv4Network, str], ...] = tuple((ip_network(net), kind) for net, kind in (
    ("169.254.169.254/32", "a cloud metadata address"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("168.63.129.16/32", "a cloud metadata address"),
    ("192.0.0.192/32", "a cloud metadata address"),
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (CGNAT) address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a reserved address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
))  # type: ignore[misc]
_IPV6_RULES: tuple[tuple[IPv6Network, str], ...] = tuple((ip_network(net), kind) for net, kind in (
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("::/128", "an unspecified address"),
    ("fc00::/7", "a private address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
    ("2001::/23", "a reserved address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
))  # type: ignore[misc]
_GLOBAL_UNICAST = ip_network("2000::/3")
_NAT64 = ip_network("64:ff9b::/96")
_LOOPBACK = "a loopback address"
_LOOPBACK_NAMES = re.compile(r"(?:.+\.)?localhost\.?\Z", re.IGNORECASE)
# A host the IPv4 parsers read as a number: decimal, octal (leading 0) or hex (0x) parts.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?\Z",
                           re.IGNORECASE)
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\ufeff]|\s")


@dataclass(frozen=True)
class TargetPolicy:
    """What a deployment allows beyond public addresses."""

    allow_loopback: bool = False
    # (host, port) pairs of the service itself: its listen address and its issuer's.
    own: frozenset[tuple[str, int]] = field(default_factory=frozenset)


def canonical(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form stands for (IPv4-mapped, NAT64, 6to4), else itself."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_refusal(address: IPAddress, policy: TargetPolicy) -> str | None:
    """Why a webhook may not be sent to ``address`` (``"a private address"``), or ``None``."""
    address = canonical(address)
    if address.is_loopback:
        return None if policy.allow_loopback else _LOOPBACK
    rules = _IPV4_RULES if isinstance(address, IPv4Address) else _IPV6_RULES
    for network, kind in rules:
        if address in network:
            return kind
    if isinstance(address, IPv6Address) and address not in _GLOBAL_UNICAST:
        return "a reserved address"
    return None


def own_address(host: str, port: int, policy: TargetPolicy) -> bool:
    """``host:port`` is the service itself (a loopback or wildcard listen address included)."""
    for own_host, own_port in policy.own:
        if port != own_port:
            continue
        if host.lower() == own_host.lower():
            return True
        own_ip, ip = _literal(own_host), _literal(host)
        if ip is not None and canonical(ip).is_loopback and _LOOPBACK_NAMES.match(own_host):
            return True  # listening on "localhost": whichever loopback address it resolves to
        if ip is not None and own_ip is not None and (
                canonical(ip) == canonical(own_ip)
                or (canonical(ip).is_loopback and own_ip.is_unspecified)):
            return True
    return False


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_text_problem(url: str) -> str | None:
    """Whitespace or control characters anywhere in the URL (a CR LF would split the request)."""
    if _UNSAFE_CHARACTER.search(url):
        return "must not contain whitespace or control characters"
    return None


def host_refusal(host: str, port: int, policy: TargetPolicy) -> str | None:
    """Why the URL's host (as written) is refused before any name is resolved, or ``None``.

    A name is judged only by what it resolves to at delivery, except ``localhost`` names."""
    if own_address(host, port, policy):
        return "the service's own address"
    literal = _literal(host)
    if literal is not None:
        return address_refusal(literal, policy)
    if _NUMERIC_HOST.match(host):
        return "an IP address not written as four decimal numbers"
    if _LOOPBACK_NAMES.match(host) and not policy.allow_loopback:
        return _LOOPBACK
    return None
