"""The loopback feed server itself (fakes/feed_server.py): what tests and bench/farm.py lean on."""

from __future__ import annotations

import httpx

from fakes.feed_server import FeedServer, ServerStats


def test_several_hosts_answer_on_one_port_and_are_counted_per_host() -> None:
    with FeedServer(hosts=3) as server:
        server.add("/a.xml", b"<rss/>")
        urls = [server.url("/a.xml", host=k) for k in range(4)]
        assert urls[0] == server.base_url + "/a.xml"
        assert [httpx.URL(url).host for url in urls] == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]
        assert {httpx.URL(url).port for url in urls} == {server.port}
        for url in urls:
            assert httpx.get(url).content == b"<rss/>"
        assert [r.host for r in server.requests] == [httpx.URL(url).netloc.decode() for url in urls]
        assert server.max_in_flight(f"127.0.0.2:{server.port}") == 1


def test_stats_count_answers_bytes_and_connections_and_reset() -> None:
    with FeedServer(keep_requests=False) as server:
        url = server.add("/a.xml", b"x" * 100)
        with httpx.Client() as client:  # one keep-alive connection
            etag = client.get(url).headers["etag"]
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
            assert client.get(server.url("/missing")).status_code == 404
        stats = server.stats()
        assert stats == ServerStats(
            requests=3,
            ok=1,
            not_modified=1,
            not_found=1,
            bytes=100 + 10,
            in_flight=0,
            max_in_flight=1,
            connections=1,
        )
        assert server.requests == []  # counts only
        server.reset_stats()
        assert server.stats() == ServerStats()


def test_a_route_answers_from_code_and_can_read_the_request() -> None:
    def respond(request) -> None:
        request.reply(200, request.headers.get("X-Echo", "").encode(), {"Content-Type": "text/plain"})

    with FeedServer() as server:
        url = server.route("/echo", respond)
        assert httpx.get(url, headers={"X-Echo": "hello"}).text == "hello"
        assert server.count("/echo") == 1
