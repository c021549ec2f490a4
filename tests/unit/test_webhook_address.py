"""Where a webhook may be sent: every non-public address class refused, IPv6 forms embedding an
IPv4 address judged by that address, loopback only when the deployment allows it, never the
service itself, and no whitespace or control characters in a URL."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from app.webhook_address import TargetPolicy, address_refusal, host_refusal, url_text_problem

LOOPBACK_ON = TargetPolicy(allow_loopback=True, own=frozenset({("127.0.0.1", 8000)}))
LOOPBACK_OFF = TargetPolicy(allow_loopback=False, own=frozenset({("127.0.0.1", 8000)}))

ALWAYS_REFUSED = [
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("168.63.129.16", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.254", "a shared (CGNAT) address"),
    ("0.0.0.0", "an unspecified address"),
    ("0.1.2.3", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("192.0.0.170", "a reserved address"),
    ("198.18.0.1", "a reserved address"),
    ("192.0.2.1", "a documentation address"),
    ("2001:db8::1", "a documentation address"),
    ("::127.0.0.1", "a reserved address"),  # IPv4-compatible (deprecated)
    ("100::1", "a reserved address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:0.0.0.0", "an unspecified address"),
    ("64:ff9b::a00:1", "a private address"),  # NAT64 of 10.0.0.1
    ("2002:a9fe:a9fe::", "a cloud metadata address"),  # 6to4 of 169.254.169.254
]
LOOPBACK = ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1",
            "2002:7f00:1::"]
PUBLIC = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
          "::ffff:93.184.216.34", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), ALWAYS_REFUSED)
@pytest.mark.parametrize("policy", [LOOPBACK_ON, LOOPBACK_OFF], ids=["loopback-on", "loopback-off"])
def test_non_public_addresses_are_refused_whatever_the_loopback_setting(
        address: str, kind: str, policy: TargetPolicy) -> None:
    assert address_refusal(ip_address(address), policy) == kind


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_is_allowed_only_when_the_setting_allows_it(address: str) -> None:
    assert address_refusal(ip_address(address), LOOPBACK_ON) is None
    assert address_refusal(ip_address(address), LOOPBACK_OFF) == "a loopback address"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ip_address(address), LOOPBACK_OFF) is None


@pytest.mark.parametrize(("host", "loopback_on", "loopback_off"), [
    ("2130706433", "an IP address not written as four decimal numbers", None),
    ("0x7f.1", "an IP address not written as four decimal numbers", None),
    ("0177.0.0.1", "an IP address not written as four decimal numbers", None),
    ("127.1", "an IP address not written as four decimal numbers", None),
    ("0x7f000001", "an IP address not written as four decimal numbers", None),
    ("localhost", None, "a loopback address"),
    ("api.localhost", None, "a loopback address"),
    ("127.0.0.1", None, "a loopback address"),
    ("[::ffff:127.0.0.1]", None, "a loopback address"),
    ("169.254.169.254", "a cloud metadata address", None),
    ("[fe80::1]", "a link-local address", None),
    ("hooks.example", None, None),
    ("1e100.example", None, None),
])
def test_hosts_as_written_are_judged_before_any_resolution(
        host: str, loopback_on: str | None, loopback_off: str | None) -> None:
    assert host_refusal(host.strip("[]"), 443, LOOPBACK_ON) == loopback_on
    assert host_refusal(host.strip("[]"), 443, LOOPBACK_OFF) == (loopback_off or loopback_on)


@pytest.mark.parametrize(("host", "port"), [
    ("127.0.0.1", 8000), ("::ffff:127.0.0.1", 8000), ("LOCALHOST", 8001)])
def test_the_service_itself_is_refused_even_with_loopback_allowed(host: str, port: int) -> None:
    policy = TargetPolicy(allow_loopback=True,
                          own=frozenset({("127.0.0.1", 8000), ("localhost", 8001)}))
    assert host_refusal(host, port, policy) == "the service's own address"
    assert host_refusal(host, port + 10, policy) is None  # (8001 is localhost's: also loopback)


def test_a_wildcard_listen_address_covers_loopback() -> None:
    policy = TargetPolicy(allow_loopback=True, own=frozenset({("0.0.0.0", 8000)}))
    assert host_refusal("127.0.0.1", 8000, policy) == "the service's own address"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.2"])
def test_a_listen_address_named_localhost_covers_the_loopback_addresses(address: str) -> None:
    """``DANCU_HOST=localhost``: what ``localhost`` resolves to (checked at each delivery) is the
    service itself on its port."""
    policy = TargetPolicy(allow_loopback=True, own=frozenset({("localhost", 8000)}))
    assert host_refusal(address, 8000, policy) == "the service's own address"
    assert host_refusal(address, 8001, policy) is None


@pytest.mark.parametrize("url", [
    "https://rp.example/hooks\r\nX-Injected: 1", "https://rp.example/a\nb", "https://rp.example/\x00",
    "https://rp.example/a b", "https://rp.example/a\tb", "https://rp.example/\x7f",
    "https://rp.example/\x85", "https://rp.example/\u2028", "https://rp.example/\u00a0",
    " https://rp.example/", "https://rp.example/\ufeff"])
def test_whitespace_and_control_characters_are_refused(url: str) -> None:
    assert url_text_problem(url) == "must not contain whitespace or control characters"


def test_a_plain_url_has_no_text_problem() -> None:
    assert url_text_problem("https://rp.example/hooks/dancu?x=%0D%0A") is None
