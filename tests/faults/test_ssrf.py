"""SSRF: no redirect from a public address reaches a private one (monitor/netguard.py).

Only loopback exists here, so the "public" origin is a feed server answering on 127.0.0.2,
which the policy is told to treat as public (AddressPolicy.public_networks); the private
target is the feed server on 127.0.0.1. Everything else is the real client, real sockets and
real resolution.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from fakes.feed_server import FeedServer
from monitor.errors import FetchError
from monitor.ingest.fetch import fetch_feed, make_client
from monitor.ingest.netguard import AddressPolicy
from monitor.types import FeedForUpdate, FetchedFeed, FetchSettings
from tests.conftest import rss

pytestmark = pytest.mark.slow  # end to end: `pytest -m "not slow"` leaves it out

PUBLIC_HOST = "127.0.0.2"
SETTINGS = FetchSettings(connect_timeout=2, read_timeout=2, deadline=5)
TEST_POLICY = AddressPolicy(public_networks=(ipaddress.ip_network(f"{PUBLIC_HOST}/32"),))


@pytest.fixture
def public_origin() -> Iterator[tuple[str, Callable[[str, str], str]]]:
    """(origin, redirect): a feed server answering on 127.0.0.2 too (public for TEST_POLICY), and
    ``redirect(path, target)``, which makes it answer ``path`` with a 302 to ``target``."""
    with FeedServer(hosts=2) as server:
        origin = server.url("", host=1)
        assert origin.startswith(f"http://{PUBLIC_HOST}:")
        yield origin, lambda path, to: server.misbehave(path, "redirect", to=to, status=302)


def fetch(url: str, policy: AddressPolicy | None = TEST_POLICY, settings: FetchSettings = SETTINGS):
    async def go() -> FetchedFeed | FetchError:
        async with make_client(settings, policy) as client:
            return await fetch_feed(client, FeedForUpdate(url=url), settings)

    return asyncio.run(go())


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "10.1.2.3", "172.16.0.1",
     "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::", "fc00::1", "fd12:3456::1",
     "fe80::1", "224.0.0.1", "ff02::1", "192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255",
     # NAT64 and 6to4 addresses embedding a private IPv4 (issue 20)
     "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1"],
)  # fmt: skip
def test_private_loopback_link_local_and_reserved_addresses_are_not_public(address: str) -> None:
    policy = AddressPolicy()
    assert not policy.is_public(ipaddress.ip_address(address))
    assert policy.refusal("feed.example", [ipaddress.ip_address(address)]) is not None


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"],
)
def test_global_addresses_are_public(address: str) -> None:
    assert AddressPolicy().is_public(ipaddress.ip_address(address))


def test_allow_private_entries_are_names_addresses_and_networks() -> None:
    policy = AddressPolicy.from_entries(["RSSHub.lan.", "10.0.0.0/8", "192.168.1.5", "[fd00::1]"])
    assert policy.refusal("rsshub.lan", [ipaddress.ip_address("192.168.9.9")]) is None
    assert policy.refusal("x", [ipaddress.ip_address("10.20.30.40")]) is None
    assert policy.refusal("x", [ipaddress.ip_address("192.168.1.5")]) is None
    assert policy.refusal("x", [ipaddress.ip_address("fd00::1")]) is None
    assert policy.refusal("x", [ipaddress.ip_address("192.168.1.6")]) is not None


def private_target(feed_server, seeds) -> tuple[str, int]:
    url = feed_server.add("/internal.xml", rss("Internal", seeds[:1]))
    return url, int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]"],
)
def test_a_redirect_from_a_public_address_to_a_private_one_is_refused(
    feed_server, seeds, public_origin, host: str
) -> None:
    _, port = private_target(feed_server, seeds)
    origin, redirect = public_origin
    redirect("/feed.xml", f"http://{host}:{port}/internal.xml")
    result = fetch(origin + "/feed.xml")
    assert isinstance(result, FetchError)
    assert feed_server.count("/internal.xml") == 0  # never asked
    assert "\n" not in result.message
    assert result.message.startswith("redirect to a private address refused: ")
    assert "allow it with [fetch] allow_private" in result.message
    assert f":{port}/internal.xml" in result.message  # names the hop it refused


def test_an_allow_listed_internal_target_is_reached(feed_server, seeds, public_origin) -> None:
    _, port = private_target(feed_server, seeds)
    origin, redirect = public_origin
    redirect("/feed.xml", f"http://127.0.0.1:{port}/internal.xml")
    policy = replace(TEST_POLICY, allow_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    result = fetch(origin + "/feed.xml", policy)
    assert isinstance(result, FetchedFeed) and result.status == 200
    assert feed_server.count("/internal.xml") == 1


def test_with_the_policy_off_a_redirect_may_go_anywhere(feed_server, seeds, public_origin) -> None:
    _, port = private_target(feed_server, seeds)
    origin, redirect = public_origin
    redirect("/feed.xml", f"http://127.0.0.1:{port}/internal.xml")
    result = fetch(origin + "/feed.xml", settings=replace(SETTINGS, block_private_redirects=False))
    assert isinstance(result, FetchedFeed) and result.status == 200


def test_a_public_origin_may_redirect_to_another_public_address(public_origin) -> None:
    origin, redirect = public_origin
    redirect("/feed.xml", origin + "/moved.xml")
    result = fetch(origin + "/feed.xml")
    assert isinstance(result, FetchError) and result.message.startswith("HTTP 404")  # reached, and answered


def test_feeds_the_operator_configured_on_private_addresses_work(feed_server, seeds) -> None:
    """Direct, and through redirects that stay inside (a private origin): the default policy."""
    url, _ = private_target(feed_server, seeds)
    moved = feed_server.misbehave("/moved.xml", "redirect", to="/internal.xml")
    for target in (url, moved):
        result = fetch(target, policy=None)
        assert isinstance(result, FetchedFeed) and result.status == 200
    assert feed_server.count("/internal.xml") == 2


def test_an_imported_feed_gets_the_redirect_policy_from_its_first_request():
    """An OPML file's address was never checked by the operator: a name in it that resolves to a
    private address (here the loopback address itself, as such a name would) is refused when it is
    fetched, as a redirect there would be; a configured feed and a public imported one are read."""
    with FeedServer(hosts=2) as server:
        private = server.add("/imported.xml", rss("Imported", []))
        public = server.url("/imported.xml", host=1)
        assert public.startswith(f"http://{PUBLIC_HOST}:")

        async def go(url: str, guarded: bool) -> FetchedFeed | FetchError:
            async with make_client(SETTINGS, TEST_POLICY) as client:
                return await fetch_feed(client, FeedForUpdate(url=url, guarded=guarded), SETTINGS)

        refused = asyncio.run(go(private, True))
        assert isinstance(refused, FetchError) and "private address" in refused.message, refused
        assert isinstance(asyncio.run(go(private, False)), FetchedFeed)  # configured: the operator's
        assert isinstance(asyncio.run(go(public, True)), FetchedFeed)


def test_the_archive_marks_imported_feeds_for_the_policy(tmp_path):
    from datetime import UTC, datetime

    from monitor.archive.store import Archive

    now = datetime(2026, 12, 4, tzinfo=UTC)
    archive = Archive.open(tmp_path / "monitor.db")
    try:
        archive.add_feeds([("https://imported.example/rss", None)], now)  # origin "opml"
        archive.add_feeds([("https://added.example/rss", None)], now, origin="cli")
        guarded = {f.url: f.guarded for f in archive.feeds_for_update()}
    finally:
        archive.close()
    assert guarded == {"https://imported.example/rss": True, "https://added.example/rss": False}
