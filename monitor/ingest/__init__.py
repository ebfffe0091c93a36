"""From a feed's URL to its entries: fetch (httpx, with netguard's SSRF checks), parse
(feedparser into EntryData: encoding, htmltext, googlenews and outlet read its text;
shortcuts spares feedparser work it repeats), dedupe (identity keys), schedule (when to
check next), opml.

May import: monitor.config, monitor.types, monitor.errors; never rules, stories or archive.
Start at fetch.py (fetch_feed), then parse.py (parse_feed). A new feed format is a parser
beside parse.py, chosen there by content type.
"""
