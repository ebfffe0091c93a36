"""A loopback "feed farm": N generated RSS and Atom feeds over real HTTP, for benchmarks.

In-process::

    from farm import Farm          # bench/ is scripts: sys.path.insert(0, "bench") first
    with Farm(feeds=1000, delay=0.1) as farm:
        urls = farm.urls            # http://127.0.0.{k}:{port}/feed/{i}.xml
        ...                         # poll them
        farm.change(0.1, 5)         # 10% of the feeds get 5 new items (new ETag, Last-Modified)
        farm.change(0.1, 5, among=range(100))   # ... 10% of the first 100
        farm.publish(7, *breaking_item(0))       # one given item on top of feed 7, published now
        farm.asked_at(7)            # when a client first fetched that item (time.monotonic())
        print(farm.stats())         # requests, 200s, 304s, bytes, most in flight

In another process, so that serving costs the process under test no CPU or GIL (the same
arguments and calls, over a pipe; what bench/suite.py uses)::

    with FarmProcess(feeds=1000, delay=0.1) as farm:
        farm.urls; farm.change(0.1, 5); farm.publish(i, title, body); farm.asked_at(i)
        farm.stats(); farm.set_delay(0)

As a script (serves until Ctrl-C, a stats line every 10 s)::

    python bench/farm.py [--feeds 1000] [--delay 0.1] [--hosts 50] [--port 0] [--toml feeds.toml]

What it serves
--------------
``/feed/{i}.xml`` for i in 0..N-1: RSS 2.0 for even i, Atom 1.0 for odd i, each with
``items`` (50) items of about ``body_chars`` (1,500) characters of plain text, realistic
varied headlines and stable GUIDs, links and publication dates (items of one feed a few
minutes to two hours apart, newest first, the newest an hour before the farm was built).
About 6% of the items are India–Japan beat news (semiconductors, rare earths, defence,
Shinkansen, Quad...) written so that the shipped rules (rules/india-japan.toml) match most
of them, about 8% are near misses (one country only, market wraps, sport) and the rest is
ordinary world news that no shipped rule matches (measured on 5,000 items: 6.5% match, all of
them beat items). Bodies are sentences of a small grammar over plain English words, and the
towns, companies and people are drawn from thousands of names (most made up), so unrelated
items share few word triples and few names, as real reports do: monitor's story grouping
then joins the beat items that tell one event and leaves the rest alone. Items are generated
from (seed, feed, sequence number), so the same arguments give the same feeds.

The feeds are served by the tests' loopback feed server (fakes/feed_server.py, one route per
feed): the farm is what is served, the server how. Every response carries ``ETag`` and
``Last-Modified``; a matching ``If-None-Match`` (or, without one, an ``If-Modified-Since``
not older than Last-Modified) gets 304. Anything else is 404. Each request waits ``delay``
seconds before its answer (a thread per connection, so waits overlap: 1,000 requests in
flight with 0.1 s of delay take about 0.1 s, not 100 s). ``farm.delay`` may be changed while
serving.

Hosts: the monitor allows ``per_host`` (2) fetches in flight to one host, so feeds on one
address would serialize. The farm listens on ``hosts`` (50) loopback addresses, 127.0.0.1,
127.0.0.2, ... (all of 127/8 is loopback on Linux), on one port, and feed i lives on host
``i % hosts``. ``hosts=1`` puts everything on 127.0.0.1.

Bodies are rendered once into bytes (``gzip=True`` also keeps a gzip copy, served to
clients that accept it) and only ``change()`` renders again, so the farm costs little
CPU next to the client under test. 1,000 feeds are about 96 MB of XML and take 4-6 s to
generate on one core.
"""

from __future__ import annotations

import argparse
import email.utils
import functools
import gzip as gziplib
import itertools
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fakes.feed_server import FeedServer, ServerStats  # noqa: E402 (the one loopback feed server)

__all__ = ["Farm", "FarmProcess", "FarmStats", "breaking_item", "feed_toml"]

_FEED_PATH = re.compile(rb"^/feed/(\d+)\.xml$")


# --- generated news ------------------------------------------------------------------------

_FIRST = (
    "Maria Adele Tomas Nadia Samuel Grace Olu Priya Kenji Lena Pablo Ingrid Kofi Elena Marco Aisha "
    "Jonas Farah Diego Hana Victor Leila Omar Sofia Tariq Clara Mateo Noor Hugo Amara Felix Zainab "
    "Luca Ruth Emeka Irene Rafael Mei Anders Yusuf Beatriz Dmitri Chloe Kwame Astrid Nikos Paula "
    "Agnes Bruno Carmen Dario Esther Fabian Greta Henrik Isla Joaquin Katja Lorenzo Magda Nils "
    "Oksana Pieter Quentin Rosa Stefan Teresa Ulrich Vera Walter Ximena Yara Zoltan Amadou Bianca "
    "Cyril Delia Elias Fiona Gustav Helena Ivo Jana Kasper Lucia Milan Nora Oscar Petra Ramon "
    "Selma Tobias Ursula Valentin Wanda Adriana Bastian Celeste Dominik Edith Florin Gemma"
).split()
_LAST = (
    "Okafor Lindqvist Moreau Alvarez Brennan Kowalski Haddad Novak Fischer Mensah Duarte Petrov "
    "Castillo Nakamura Whitaker Osei Romano Jansen Abadi Varga Delacroix Mbeki Sorensen Quint "
    "Hallorann Ferreira Baptiste Karimi Ulloa Eriksen Marchetti Oyelaran Grunwald Szabo Tembo "
    "Laurent Akhtar Rossi Vasquez Lindgren Achebe Costa Hartmann Ibarra Nilsen Oduya Renner "
    "Aldana Bergström Cardoso Dvorak Esposito Falk Gallagher Horvath Iglesias Jovanovic Kuznetsov "
    "Lambert Medina Nyberg Olsen Pereira Quaresma Reyes Schultz Toivonen Urban Valdez Weber "
    "Yilmaz Zapata Andersen Bauer Contreras Dufour Engel Fontaine Guerrero Holm Ivanova Keller "
    "Lorenz Molina Navarro Ortega Pavlovic Ramos Sandoval Torres Vidal Wolff Zielinski Amari "
    "Bianchi Coulibaly Diallo Ekström Fofana Gomes Hakimi Ikeme Juarez Koroma Lukic Mwangi"
).split()
_CITIES = (
    "Lisbon Nairobi Toronto Melbourne Lagos Santiago Warsaw Manila Cairo Denver Rotterdam Accra "
    "Montreal Krakow Valencia Auckland Bogota Tallinn Porto Glasgow Casablanca Quito Hamburg Lyon "
    "Adelaide Durban Vilnius Calgary Bergen Cordoba Tunis Leeds Gothenburg Seville Dakar Halifax "
    "Antwerp Bilbao Brno Cardiff Cebu Curitiba Dresden Dublin Edmonton Florence Gdansk Graz Kampala "
    "Kigali Kumasi Leipzig Lusaka Malmo Marseille Medellin Mendoza Minsk Mombasa Nantes Natal Oslo "
    "Perth Plovdiv Poznan Recife Riga Rosario Salvador Sarajevo Split Tampere Toulouse Turin Utrecht "
    "Valparaiso Winnipeg Wroclaw Zagreb Zaragoza Aarhus Arequipa Bordeaux Bremen Brisbane Geelong"
).split()
_COUNTRIES = (
    "Portugal Kenya Canada Australia Nigeria Chile Poland Ghana Mexico Norway Argentina Morocco "
    "Estonia Peru Senegal Brazil Finland Tunisia Colombia Ireland Uruguay Iceland Namibia Austria "
    "Latvia Croatia Ecuador Zambia Rwanda Uganda Denmark Belgium Slovenia Paraguay Botswana Malta"
).split()
_SECTORS = (
    "Energy Foods Telecom Utilities Freight Bank Labs Mining Pharma Air Motors Grid Capital Retail "
    "Insurance Media Steel Shipping"
).split()


def _coined(rng: random.Random, count: int, endings: Sequence[str]) -> list[str]:
    """`count` made-up proper names ("Valmora", "Dunsbrook"), so that names are as many and as
    rarely shared as in real news: unrelated reports sharing names would be merged into stories."""
    onsets = "b c d f g h k l m n p r s t v z br dr gr kr st tr".split()
    vowels = "a e i o u ai ei ou".split()
    names: set[str] = set()
    while len(names) < count:
        stem = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.choice((1, 2, 2, 3))))
        name = stem + rng.choice(endings)
        if 4 <= len(name) <= 11:
            names.add(name.capitalize())
    return sorted(names)


_NAMES_RNG = random.Random("farm-names")
# real cities, and many more made-up towns; made-up companies in real sectors
_CITIES += _coined(
    _NAMES_RNG, 4000, ("", "", "ton", "ford", "berg", "mouth", "dorf", "ova", "ia", "port", "vik")
)
_COMPANIES = [
    f"{stem} {rng_sector}"
    for stem, rng_sector in zip(
        _coined(_NAMES_RNG, 3000, ("", "", "ex", "ion", "ar", "is")),
        itertools.cycle(_SECTORS),
        strict=False,
    )
]
_TEAMS = (
    "Rovers United Athletic Wanderers Rangers Olympic Harriers Dynamo Sporting Racing Albion City"
).split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = "January February March April May June July August September October November December".split()
_BANKS = [f"{name.split()[0]} {kind}" for name in _COMPANIES[:600] for kind in ("Securities", "Capital")]

# Body text: sentences of a small grammar over plain English words, so that two unrelated items
# share few word triples (stories.py joins texts by shared 3-shingles) and few names.
_ADJECTIVES = (
    "new revised local regional annual delayed temporary proposed expanded reduced unexpected "
    "modest sharp gradual longer shorter public private rural urban coastal northern southern "
    "eastern western seasonal quarterly disputed popular costly cheaper stricter looser rising "
    "falling steady separate earlier later initial final joint municipal provincial federal "
    "independent voluntary mandatory informal detailed broader narrower heavier lighter"
).split()
_NOUNS = (
    "budget plan scheme tariff levy subsidy pension contract tender permit licence inquiry audit "
    "survey forecast estimate deficit surplus payroll rent mortgage loan bond fund grant deal "
    "merger bid offer strike protest petition ruling appeal verdict review report study trial "
    "project programme route line road bridge tunnel harbour terminal depot warehouse factory "
    "mill farm orchard vineyard clinic hospital school campus library museum stadium theatre "
    "festival market fair exhibition shelter reservoir canal dam pipeline substation ferry tram "
    "bus service timetable fare toll ticket price wage salary bonus dividend profit revenue "
    "turnover output demand supply inventory shipment harvest catch rainfall drought flood storm "
    "heatwave frost wildfire outbreak vaccine clinic ward bed shortage backlog queue waiting list "
    "council committee board panel union association cooperative charity league club coach squad"
).split()
_VERBS = (
    "approved rejected delayed expanded reduced reviewed questioned backed opposed extended "
    "suspended restored announced postponed cancelled revised welcomed criticised funded audited "
    "inspected cleared blocked challenged defended doubled halved capped raised lowered replaced "
    "renamed merged split relaunched reopened closed upgraded tightened eased scrapped finalised"
).split()
_PREPOSITIONS = (
    "after",
    "before",
    "despite",
    "amid",
    "ahead of",
    "following",
    "because of",
    "in spite of",
    "during",
)
_SPEAKERS = (
    "officials said",
    "the ministry said",
    "a spokesperson said",
    "analysts said",
    "the company said",
    "union leaders said",
    "the regulator said",
    "people familiar with the matter said",
    "local officials told reporters",
    "a statement said",
    "critics said",
    "economists said",
    "{p} said",
    "a statement from {co} said",
    "analysts at {bank} said",
    "the mayor of {c} said",
)
_TIMES = (
    "on {w}",
    "last {w}",
    "in {month}",
    "by the end of {month}",
    "within {few} weeks",
    "earlier this year",
    "for the {ordinal} time since {year0}",
    "over the past {few} months",
    "next {month}",
    "in {year}",
    "on {d} {month}",
    "this week",
)


def _clause(rng: random.Random) -> str:
    choice = rng.choice
    return (
        f"the {choice(_ADJECTIVES)} {choice(_NOUNS)} {choice(_VERBS)} the {choice(_NOUNS)} "
        f"{choice(_PREPOSITIONS)} the {choice(_ADJECTIVES)} {choice(_NOUNS)}"
    )


# {c} city, {c2} another city, {k} country, {co} company, {p} person, {n} number, {m} money,
# {pc} percent, {t} team, {t2} another team, {w} weekday
_WORLD_TITLES = (
    "{c} council approves {m} budget for new tram line",
    "{co} shares jump {pc} after quarterly results beat estimates",
    "Heavy rain floods streets in {c}, {n} homes evacuated",
    "{c} {t} beat {c2} {t2} to reach cup final",
    "{k} central bank holds rates steady as inflation eases to {pc}",
    "Wildfire near {c} forces {n} residents from their homes",
    "{co} to cut {n} jobs in restructuring plan",
    "Scientists in {c} report progress on drought-resistant wheat",
    "{k} election: opposition leads early count in {c}",
    "Museum in {c} returns {n} artefacts to {k}",
    "{co} agrees {m} takeover of rival {co2}",
    "Strike halts port operations in {c} for second day",
    "{k} unveils {m} plan to expand rural broadband",
    "Record heat: {c} issues health warning as temperatures reach {deg}",
    "{p} named chief executive of {co}",
    "Police in {c} arrest {n} over cross-border fraud ring",
    "{k} parliament passes pension reform after long debate",
    "Bridge closure in {c} to last until {month}, officials say",
    "{co} recalls {n} vehicles over braking fault",
    "Marathon in {c} draws record field of {n} runners",
    "{k} and {k2} sign fisheries agreement",
    "Airport in {c} opens new terminal after {few}-month delay",
    "Court in {c} blocks plan to close children's hospital",
    "{co} opens {m} data centre outside {c}",
    "Tourist arrivals in {k} rise {pc} in first quarter",
    "{p} wins {c} literary prize for debut novel",
    "Measles cases climb in {c} as vaccination rates fall",
    "{k} food prices fall for third straight month",
    "Drone maker {co} raises {m} from investors",
    "Landslide blocks main highway north of {c}",
    "{c} mayor {p} announces bid for second term",
    "{co} fined {m} by regulator over data breach",
    "Orchestra of {c} cancels tour after funding cut",
    "{k} coastguard rescues {n} people off {c}",
    "Housing starts in {k} slow as mortgage rates bite",
    "{t2} sack coach after {n} straight defeats",
    "{co} pilots electric ferries between {c} and {c2}",
    "Power cut leaves {n} households in {c} without electricity",
)

# India–Japan beat news that the shipped rules are meant to catch.
# {jc} Japanese company, {ic} Indian company, {is} Indian place, {jp} Japanese place
_BEAT_TITLES = (
    "India, Japan sign pact to secure rare earth supplies",
    "{jc} to set up semiconductor plant in {is} with {ic}",
    "Japan and India agree to deepen defence cooperation at 2+2 dialogue in {jp}",
    "Jaishankar meets Motegi in Tokyo; economic security and critical minerals on agenda",
    "Modi, Takaichi hold talks on Quad, semiconductors and clean energy",
    "Mumbai-Ahmedabad bullet train: first Shinkansen trainsets to arrive from Japan in {year}",
    "{ic} and {jc} form chip packaging venture in {is}",
    "India, Japan navies begin JIMEX exercise off {coast}",
    "JICA extends yen loan of {yen} for Mumbai-Ahmedabad high-speed rail",
    "Japan's {jc} to invest {m} in Indian semiconductor supply chain",
    "India and Japan launch critical minerals partnership; KABIL, JOGMEC to explore rare earths",
    "Rajnath Singh, Nakatani discuss defence equipment co-production in New Delhi",
    "Quad summit: India, Japan push economic security and undersea cables",
    "Indian Army, Japan Ground Self-Defense Force start Dharma Guardian drill in {is}",
    "Japanese firm {jc} picks {is} for rare earth magnet plant with {ic}",
)
# Beat words without the beat: one country only, a market wrap, sport, the wrong Shinkansen.
_NEAR_TITLES = (
    "Japan tightens export controls on semiconductor equipment",
    "India's rare earth output rises {pc}, mines ministry says",
    "Shinkansen services suspended after earthquake in Tohoku",
    "Quad foreign ministers to meet in {c} next month",
    "Nikkei, Sensex slip as chip stocks slide",
    "India beat Japan 3-1 in Asian Champions Trophy hockey semi-final",
    "Rapidus starts 2nm pilot line in Hokkaido",
    "India approves three new semiconductor fabs worth {m}",
    "US, Australia sign critical minerals deal",
    "Japan's defence budget hits record {yen}",
    "Tata Electronics opens iPhone component unit in {is}",
    "Toyota recalls {n} cars in Japan over airbag fault",
)
_WORLD_SENTENCES = (
    "Officials said the measure would take effect on {w}, {d} {month}.",
    "{p}, a spokesperson for {co}, said the company had been preparing for the change since {month}.",
    "The figure was {pc} higher than a year earlier, according to data released on {w}.",
    "Analysts at {bank} expect the trend to continue into {year}, citing weaker demand.",
    "Residents of {c} told reporters they had not been consulted about the plan.",
    "The agency said it would publish a full assessment within {n} days.",
    "Opposition lawmakers called the decision rushed and demanded a review.",
    "Local businesses in {c} reported a fall in footfall of about {pc} over the period.",
    "The project, first proposed in {year0}, has been delayed several times by funding disputes.",
    "{p} said the organisation would appeal against the ruling.",
    "Shares of {co} closed {pc} lower on {w} after the announcement.",
    "About {n} people attended a public meeting on the proposal in {c} on {w} evening.",
    "The regulator said it had received {n} complaints since the start of the year.",
    "Engineers will inspect the site again in {month} before work resumes.",
    "A report by the {c} Institute found that costs had risen by {m} since the last estimate.",
    "Unions said they would consider further action if talks did not resume by {w}.",
    "The ministry did not respond to a request for comment.",
    "{p}, who has led the department since {year0}, said funding would be reviewed annually.",
    "Weather forecasters expect conditions to improve by the weekend.",
    "The company employs about {n} people, most of them in {c} and {c2}.",
    "Critics noted that a similar scheme in {c2} had been abandoned after two years.",
    "The final decision rests with the {k} cabinet, which meets on {w}.",
    "Independent auditors will review the accounts, {p} told a news conference.",
    "Ticket sales reached {n} in the first week, organisers said.",
    "The government said the money would come from existing budgets rather than new borrowing.",
    "It was the largest such deal in {k} since {year0}, according to {bank}.",
)
_BEAT_SENTENCES = (
    "The agreement covers joint exploration, processing and stockpiling of rare earths and other "
    "critical minerals.",
    "Officials from both governments said the partnership would reduce dependence on a single supplier.",
    "The plant is expected to employ about {n} engineers and start production in {year}.",
    "The two sides also reviewed progress on the Mumbai-Ahmedabad high-speed rail corridor.",
    "India and Japan have held the 2+2 ministerial dialogue since 2019.",
    "Japanese investment in India reached {yen} last year, according to JETRO.",
    "The venture will assemble and test chips for automotive and industrial customers.",
    "Both navies will practise anti-submarine warfare and replenishment at sea.",
    "The Quad grouping of Australia, India, Japan and the United States has made supply chains a priority.",
    "Japan's METI and India's MeitY signed a memorandum on semiconductor supply chain resilience.",
)


def _money(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return f"${rng.randint(2, 950)} million"
    return f"${rng.randint(1, 40)}.{rng.randint(1, 9)} billion"


_SLOTS: dict[str, Callable[[random.Random], object]] = {
    "c": lambda rng: rng.choice(_CITIES),
    "k": lambda rng: rng.choice(_COUNTRIES),
    "co": lambda rng: rng.choice(_COMPANIES),
    "t": lambda rng: rng.choice(_TEAMS),
    "p": lambda rng: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
    "n": lambda rng: f"{rng.randint(12, 48_000):,}",
    "m": _money,
    "yen": lambda rng: f"{rng.randint(50, 900)} billion yen",
    "pc": lambda rng: f"{rng.randint(1, 30)}.{rng.randint(0, 9)}%",
    "deg": lambda rng: f"{rng.randint(38, 47)}C",
    "w": lambda rng: rng.choice(_WEEKDAYS),
    "d": lambda rng: rng.randint(1, 28),
    "month": lambda rng: rng.choice(_MONTHS),
    "year": lambda rng: rng.randint(2026, 2031),
    "year0": lambda rng: rng.randint(1998, 2024),
    "bank": lambda rng: rng.choice(_BANKS),
    "few": lambda rng: rng.randint(2, 11),
    "ordinal": lambda rng: rng.choice(("second", "third", "fourth", "fifth")),
    "jc": lambda rng: rng.choice(
        ("Renesas", "Toyota Tsusho", "Hitachi", "Mitsubishi Electric", "Tokyo Electron", "Sony")
    ),
    "ic": lambda rng: rng.choice(
        ("Tata Electronics", "CG Power", "Larsen & Toubro", "Reliance Industries", "Mahindra")
    ),
    "is": lambda rng: rng.choice(
        ("Gujarat", "Karnataka", "Tamil Nadu", "Maharashtra", "Telangana", "Odisha")
    ),
    "jp": lambda rng: rng.choice(("Tokyo", "Osaka", "Yokohama", "Nagoya")),
    "coast": lambda rng: rng.choice(("Visakhapatnam", "Kochi", "Chennai", "Mumbai")),
}
_SLOT = re.compile(r"\{([a-z0-9]+)\}")


@cache
def _parts(template: str) -> tuple[str, ...]:
    """The template split into literal text (even places) and slot names (odd places)."""
    return tuple(_SLOT.split(template))


def _fill(rng: random.Random, template: str) -> str:
    """The template with its slots filled; "{c2}" is a second, different city ("{k2}", "{co2}"...)."""
    parts = _parts(template)
    out = list(parts)
    used: dict[str, object] = {}
    for at in range(1, len(parts), 2):
        name = parts[at]
        base = name.rstrip("2")
        value = _SLOTS[base](rng)
        while name != base and value == used.get(base):
            value = _SLOTS[base](rng)
        used[name] = value
        out[at] = str(value)
    return "".join(out)


def _grammar_sentence(rng: random.Random) -> str:
    speaker = _fill(rng, rng.choice(_SPEAKERS))
    when = _fill(rng, rng.choice(_TIMES))
    roll = rng.random()
    if roll < 0.4:
        text = f"{speaker} {_clause(rng)} {when}."
    elif roll < 0.8:
        text = f"{_clause(rng)} {when}, {speaker}."
    else:
        text = f"{_clause(rng)}, and {_clause(rng)} {when}."
    return text[0].upper() + text[1:]


_LEADS = (
    "@T, officials said on {w}.",
    "@T, according to people briefed on the matter.",
    "@T, a statement said on {w}.",
    "@T, it was announced on {w}.",
    "@T.",
)


def _make_item(rng: random.Random, body_chars: int) -> tuple[str, str]:
    """(title, body) of one generated news item."""
    roll = rng.random()
    if roll < 0.06:
        title = _fill(rng, rng.choice(_BEAT_TITLES))
        extra = list(_BEAT_SENTENCES)
    elif roll < 0.14:
        title = _fill(rng, rng.choice(_NEAR_TITLES))
        extra = []
    else:
        title = _fill(rng, rng.choice(_WORLD_TITLES))
        extra = []
    lead = _fill(rng, rng.choice(_LEADS)).replace("@T", title.split(": ")[-1].rstrip("."), 1)
    # a few templated sentences (each once) for the texture of news copy, the rest from the grammar
    templated = rng.sample(_WORLD_SENTENCES, 3)
    rng.shuffle(extra)
    sentences = [lead]
    size = len(lead)
    while size < body_chars:
        roll = rng.random()
        if extra and roll < 0.3:
            sentence = _fill(rng, extra.pop())
        elif templated and roll < 0.45:
            sentence = _fill(rng, templated.pop())
        else:
            sentence = _grammar_sentence(rng)
        sentences.append(sentence)
        size += len(sentence) + 1
    return title, " ".join(sentences)


# Beat news for latency measurements. Each sample must be an event of its own, so that it alerts
# anew rather than joining another sample's story (an edit of an earlier message, which Telegram
# does not notify): story grouping weighs a word by its rarity in the archive, and the words of
# a template shared by several samples are rare there (only the samples carry them), so one
# template per sample, each with its own India-side and Japan-side actors and its own topic
# words (none of them in the farm's own beat titles), plus a made-up place and person. Each is
# matched by a shipped rule (its topic in the title, both sides in the title).
_BREAKING_TITLES = (
    "Adani and Marubeni to build hydrogen terminal at {place}",
    "Vedanta, Dowa pick {place} for gallium recovery works",
    "Hindalco teams up with Sumitomo on nickel smelter near {place}",
    "Infosys and Fujitsu open artificial intelligence lab in {place}",
    "Wipro, NEC win undersea cable landing contract at {place}",
    "Kaynes and Ibiden plan OSAT facility at {place}",
    "Dixon Technologies, Kyocera to make image sensors in {place}",
    "Cochin Shipyard and IHI to build frigates at {place} yard",
    "Bharat Forge, Komatsu agree defence equipment deal for {place}",
    "NHSRCL orders Shinkansen signalling from Kawasaki for {place} depot",
    "Ola Electric and Panasonic plan battery cell gigafactory at {place}",
    "Suzlon and JERA to develop renewable energy park at {place}",
    "IREL ships neodymium oxide to Shin-Etsu from {place} refinery",
    "Skyroot and SoftBank back cyber startup incubator in {place}",
    "ONGC, Inpex plan green ammonia export jetty at {place}",
    "Coal India, Mitsui eye tungsten deposit at {place}",
    "Godrej and Daikin to set up semiconductor gas unit in {place}",
    "HCLTech opens data centre with KDDI in {place}",
    "Garden Reach and Mitsubishi Heavy to co-build destroyers at {place}",
    "Zoho, NTT Data launch SaaS hub for exporters at {place}",
    "Biocon and Takeda to secure drug ingredient supply from {place}",
    "Hindustan Zinc, JX Advanced Metals plan germanium smelter in {place}",
    "Amara Raja and Denso start EV battery line at {place}",
    "Bharat Electronics and Toshiba co-develop naval radar at {place}",
)


def breaking_item(n: int, seed: int = 0) -> tuple[str, str]:
    """(title, body) of the n-th breaking beat item: matched by a shipped rule, and unlike any other
    item (the farm's, or another breaking one) in its actors, topic, place and person. Past the
    templates' count the templates repeat, with a new place and person only: keep the samples of
    one run at most len(_BREAKING_TITLES)."""
    rng = random.Random(f"{seed}/breaking/{n}")
    place = _coined(rng, 1, ("pur", "abad", "nagar", "garh"))[0] + f" {_ordinal_name(n)}"
    person = f"{_coined(rng, 1, ('a', 'i', 'u'))[0]} {_coined(rng, 1, ('wala', 'moto', 'kawa'))[0]}"
    title = _BREAKING_TITLES[n % len(_BREAKING_TITLES)].replace("{place}", place)
    sentences = [f"{title}, {person} said in {place} on {rng.choice(_WEEKDAYS)}."]
    while sum(len(x) + 1 for x in sentences) < 900:
        sentences.append(_grammar_sentence(rng))
    return title, " ".join(sentences)


def _ordinal_name(n: int) -> str:
    """A made-up word for n (no digits: story grouping weighs shared figures)."""
    syllables = "ka lo mi nu pe ra si tu ve zo".split()
    word = ""
    while True:
        word += syllables[n % 10]
        n //= 10
        if not n:
            return word.capitalize()


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    seq: int  # per feed, 0 the oldest at build time; change() continues the count
    title: str
    body: str
    link: str
    guid: str
    published: datetime


@dataclass
class _Doc:
    """One feed as served: the rendered body and what the validators say about it."""

    body: bytes
    etag: str  # quoted, strong
    modified: int  # Last-Modified, epoch seconds
    last_modified: str  # the header value
    bounds: list[int]  # byte offsets of each item's start in `body`, and of the end of the last
    next_seq: int
    gzipped: bytes | None = None


def _http_date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def _rss_item(item: _Item) -> str:
    return (
        f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
        f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
        f"<pubDate>{email.utils.format_datetime(item.published, usegmt=True)}</pubDate>"
        f"<description>{escape(item.body)}</description></item>\n"
    )


def _atom_entry(item: _Item) -> str:
    stamp = item.published.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"<entry><title>{escape(item.title)}</title><link href={quoteattr(item.link)}/>"
        f"<id>{escape(item.guid)}</id><published>{stamp}</published><updated>{stamp}</updated>"
        f'<summary type="text">{escape(item.body)}</summary></entry>\n'
    )


# --- the farm ---------------------------------------------------------------------------------


FarmStats = ServerStats  # what the farm's server counted (fakes/feed_server.py)


@dataclass
class Farm:
    """N generated feeds on loopback. See the module's docstring for what is served."""

    feeds: int = 1000
    items: int = 50  # items per feed (change() keeps each feed at this many)
    body_chars: int = 1500  # plain-text characters per item, about
    delay: float = 0.1  # seconds before each answer; may be changed while serving
    hosts: int = 50  # loopback addresses to spread the feeds over (127.0.0.1 ...)
    seed: int = 0
    gzip: bool = False  # keep a gzip copy of each body for clients sending Accept-Encoding: gzip
    port: int = 0  # 0: any free port (read it after start())
    now: datetime | str | None = None  # the farm's build time (default: the current hour, UTC); str: ISO
    _docs: list[_Doc] = field(default_factory=list, init=False, repr=False)
    _changes: int = field(default=0, init=False, repr=False)
    _server: FeedServer | None = field(default=None, init=False, repr=False)
    # feed → when (time.monotonic(), one clock for every process on Linux) a client first asked
    # for it and got the item publish() last put in it
    _asked: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    # feed → that item's <guid>/<id> as served: a body without it (a change() pushed it out) is
    # not the item's fetch
    _published: dict[int, bytes] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.hosts <= 250 * 250:
            raise ValueError(f"hosts must be 1..62500, got {self.hosts}")
        if isinstance(self.now, str):  # from FarmProcess's JSON
            self.now = datetime.fromisoformat(self.now)
        self.now = self.now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self._docs = [
            self._render(i, self._initial_items(i), int(self.now.timestamp())) for i in range(self.feeds)
        ]

    # --- addresses

    def host(self, i: int) -> str:
        """The loopback address feed i lives on."""
        k = i % self.hosts
        return f"127.0.{k // 250}.{1 + k % 250}"

    def url(self, i: int) -> str:
        return f"http://{self.host(i)}:{self.port}/feed/{i}.xml"

    @property
    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.feeds)]

    @property
    def base_url(self) -> str:
        """The first host's address; every feed path answers on every host."""
        return f"http://127.0.0.1:{self.port}"

    # --- content

    def _item(self, i: int, seq: int, published: datetime) -> _Item:
        rng = random.Random(f"{self.seed}/{i}/{seq}")
        title, body = _make_item(rng, self.body_chars)
        outlet = f"outlet{i}.example"
        day = published.strftime("%Y/%m/%d")
        return _Item(
            seq=seq,
            title=title,
            body=body,
            link=f"https://{outlet}/{day}/{_slug(title)}-{i}-{seq}",
            guid=f"tag:{outlet},2026:{i}-{seq}",
            published=published,
        )

    def _initial_items(self, i: int) -> list[_Item]:
        """Newest first: the newest an hour before `now`, then gaps of 3 to 120 minutes."""
        assert self.now is not None
        rng = random.Random(f"{self.seed}/{i}/times")
        when = self.now - timedelta(hours=1)
        out = []
        for seq in range(self.items - 1, -1, -1):
            out.append(self._item(i, seq, when))
            when -= timedelta(minutes=rng.randint(3, 120))
        return out

    def _render(self, i: int, new_items: Sequence[_Item], modified: int, old: _Doc | None = None) -> _Doc:
        """The feed with `new_items` (newest first) before the items of `old`, cut to `items`."""
        atom = i % 2 == 1
        stamp = datetime.fromtimestamp(modified, UTC)
        title = escape(f"Outlet {i} ({'Atom' if atom else 'RSS'})")
        if atom:
            head = (
                '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>{title}</title><id>tag:outlet{i}.example,2026:feed</id>"
                f'<link href="https://outlet{i}.example/"/>'
                f"<updated>{stamp.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>\n"
            ).encode()
            tail = b"</feed>\n"
            fragments = [_atom_entry(item).encode() for item in new_items]
        else:
            head = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
                f"<title>{title}</title><link>https://outlet{i}.example/</link>"
                f"<description>Generated news, feed {i}</description>"
                f"<lastBuildDate>{_http_date(modified)}</lastBuildDate>\n"
            ).encode()
            tail = b"</channel></rss>\n"
            fragments = [_rss_item(item).encode() for item in new_items]
        keep = max(0, self.items - len(fragments))
        kept = b""
        if old is not None and keep:
            kept_bounds = old.bounds[: keep + 1]
            kept = old.body[kept_bounds[0] : kept_bounds[-1]]
        bounds = [len(head)]
        for fragment in fragments[: self.items]:
            bounds.append(bounds[-1] + len(fragment))
        if old is not None and keep:
            shift = bounds[-1] - old.bounds[0]
            bounds += [b + shift for b in old.bounds[1 : keep + 1]]
        body = head + b"".join(fragments[: self.items]) + kept + tail
        next_seq = max((item.seq for item in new_items), default=-1) + 1
        if old is not None:
            next_seq = max(next_seq, old.next_seq)
        return _Doc(
            body=body,
            etag=f'"f{i}-{next_seq}-{modified}"',
            modified=modified,
            last_modified=_http_date(modified),
            bounds=bounds,
            next_seq=next_seq,
            gzipped=gziplib.compress(body, 6, mtime=0) if self.gzip else None,
        )

    def body(self, i: int) -> bytes:
        """Feed i as it is served now."""
        return self._docs[i].body

    def etag(self, i: int) -> str:
        return self._docs[i].etag

    def change(
        self,
        fraction: float,
        new_items: int = 5,
        among: Sequence[int] | None = None,
        spare: Collection[int] = (),
    ) -> list[int]:
        """Give round(fraction × feeds) feeds `new_items` new items each, published now (the oldest
        drop off), with a new ETag and a later Last-Modified. Which feeds: drawn from the seed and
        the number of earlier changes, so reproducible; from `among` (indices) when given, else
        from all; a feed of `spare` is never changed (one carrying a publish()ed item: with
        `items` at most new_items, the change would push that item out before a client saw it),
        another drawn in its place, so the same feeds change as without `spare` when none of
        them was drawn. Returns their indices, sorted."""
        self._changes += 1
        rng = random.Random(f"{self.seed}/change/{self._changes}")
        pool, spared = list(range(self.feeds) if among is None else among), set(spare)
        drawn = rng.sample(pool, round(fraction * len(pool)))
        kept = [i for i in drawn if i not in spared]
        if len(kept) < len(drawn):
            taken = set(drawn)
            rest = [i for i in pool if i not in taken and i not in spared]
            kept += rng.sample(rest, min(len(rest), len(drawn) - len(kept)))
        chosen = sorted(kept)
        now = datetime.now(UTC).replace(microsecond=0)
        for i in chosen:
            old = self._docs[i]
            fresh = [
                self._item(i, old.next_seq + n, now - timedelta(seconds=new_items - 1 - n))
                for n in range(new_items)
            ]
            fresh.reverse()  # newest first
            # strictly later than before, or an If-Modified-Since client would never see the change
            modified = max(int(now.timestamp()), old.modified + 1)
            self._docs[i] = self._render(i, fresh, modified, old)  # one reference swap: thread-safe
        return chosen

    def publish(self, i: int, title: str, body: str) -> str:
        """Put one given item on top of feed i, published now (the oldest drops off), with a new
        ETag and a later Last-Modified; returns its link."""
        old = self._docs[i]
        now = datetime.now(UTC).replace(microsecond=0)
        outlet = f"outlet{i}.example"
        item = _Item(
            seq=old.next_seq,
            title=title,
            body=body,
            link=f"https://{outlet}/{now:%Y/%m/%d}/{_slug(title)}-{i}-{old.next_seq}",
            guid=f"tag:{outlet},2026:{i}-{old.next_seq}",
            published=now,
        )
        modified = max(int(now.timestamp()), old.modified + 1)
        self._docs[i] = self._render(i, [item], modified, old)
        self._published[i] = f">{escape(item.guid)}<".encode()
        self._asked.pop(i, None)
        return item.link

    def asked_at(self, i: int) -> float | None:
        """When (time.monotonic()) a client first asked for feed i and got the item publish() last
        put in it (the request's arrival, before `delay`; before any publish, its first fetch);
        None until then, and for ever once the item is no longer served (a change() pushed it out
        of a feed of few items before any client fetched it)."""
        return self._asked.get(i)

    def titles(self, i: int) -> list[str]:
        """The titles feed i serves now, newest first (for checking what a client archived)."""
        body = self._docs[i].body.decode()
        return [_unescape(t) for t in re.findall(r"<title>(.*?)</title>", body)[1:]]

    # --- statistics

    def stats(self) -> FarmStats:
        """A snapshot of the server's counters."""
        return self._server.stats() if self._server else FarmStats()

    def reset_stats(self) -> None:
        if self._server:
            self._server.reset_stats()

    # --- serving: the tests' feed server (fakes/feed_server.py), one route per feed

    def start(self) -> Farm:
        if self._server is not None:
            return self
        hosts = min(self.hosts, self.feeds) or 1
        self._server = FeedServer(hosts=hosts, port=self.port, keep_requests=False)
        self.port = self._server.port
        for i in range(self.feeds):
            self._server.route(f"/feed/{i}.xml", functools.partial(self._respond, i))
        self._server.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Farm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _respond(self, i: int, request: Any) -> None:
        """Answer one request for feed i: after `delay`, 304 when the validators say so, else the
        body (gzipped for clients that accept it, when the farm keeps gzip copies)."""
        arrived = time.monotonic()
        if self.delay > 0 and not request.wait(self.delay):
            return  # the client went away
        doc = self._docs[i]
        headers = {"ETag": doc.etag, "Last-Modified": doc.last_modified}
        if _not_modified(doc, request.headers):
            request.reply(304, b"", headers)
            return
        kind = "application/atom+xml" if i % 2 else "application/rss+xml"
        headers["Content-Type"] = f"{kind}; charset=utf-8"
        body = doc.body
        if doc.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = doc.gzipped
            headers |= {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        request.reply(200, body, headers)
        published = self._published.get(i)
        if doc is self._docs[i] and (published is None or published in doc.body):
            self._asked.setdefault(i, arrived)


def _not_modified(doc: _Doc, headers: Any) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    tags = headers.get("If-None-Match")
    if tags is not None:
        wanted = [t.strip().removeprefix("W/") for t in tags.split(",")]
        return "*" in wanted or doc.etag in wanted
    since = headers.get("If-Modified-Since")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
        return when.tzinfo is not None and doc.modified <= when.timestamp()
    return False


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class FarmProcess:
    """A Farm served from a child process (``python bench/farm.py --control``), so that serving
    takes no CPU time or GIL from the process under test. Same arguments as Farm; the calls go
    as JSON lines over the child's stdin/stdout::

        with FarmProcess(feeds=1000, delay=0.1) as farm:   # returns once built and listening
            farm.urls; farm.change(0.1, 5); farm.publish(7, title, body); farm.stats()
            farm.set_delay(0)
    """

    def __init__(self, **farm_args: Any) -> None:
        self.farm_args = farm_args
        self.feeds: int = farm_args.get("feeds", 1000)
        self.hosts: int = farm_args.get("hosts", 50)
        self.port = 0
        self.pid = 0
        self.built_seconds = 0.0  # generating the feeds, in the child
        self.size = 0  # bytes of all the feeds as first served
        self._child: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def start(self) -> FarmProcess:
        self._child = subprocess.Popen(
            [sys.executable, __file__, "--control", json.dumps(self.farm_args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.pid = self._child.pid
        try:
            self.port, self.built_seconds, self.size = self._reply()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        try:
            if child.stdin:
                child.stdin.close()  # end of input: the child stops serving and exits
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()

    def __enter__(self) -> FarmProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, method: str, *args: object) -> Any:
        with self._lock:
            assert self._child is not None and self._child.stdin is not None, "start() the farm first"
            self._child.stdin.write(json.dumps([method, args]) + "\n")
            self._child.stdin.flush()
            return self._reply()

    def _reply(self) -> Any:
        assert self._child is not None and self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError(f"the feed farm exited ({self._child.poll()})")
        ok, value = json.loads(line)
        if not ok:
            raise RuntimeError(f"feed farm: {value}")
        return value

    def host(self, i: int) -> str:
        k = i % self.hosts
        return f"127.0.{k // 250}.{1 + k % 250}"

    def url(self, i: int) -> str:
        return f"http://{self.host(i)}:{self.port}/feed/{i}.xml"

    @property
    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.feeds)]

    def change(
        self,
        fraction: float,
        new_items: int = 5,
        among: Sequence[int] | None = None,
        spare: Collection[int] = (),
    ) -> list[int]:
        return list(
            self._call("change", fraction, new_items, None if among is None else list(among), list(spare))
        )

    def publish(self, i: int, title: str, body: str) -> str:
        return str(self._call("publish", i, title, body))

    def stats(self) -> FarmStats:
        return FarmStats(**self._call("stats"))

    def reset_stats(self) -> None:
        self._call("reset_stats")

    def set_delay(self, seconds: float) -> None:
        self._call("set_delay", seconds)

    def asked_at(self, i: int) -> float | None:
        value = self._call("asked_at", i)
        return None if value is None else float(value)


def _control(farm_args: dict[str, Any]) -> int:
    """The child of FarmProcess: build, serve, answer calls (JSON lines) until stdin ends."""

    def answer(ok: bool, value: object) -> None:
        sys.stdout.write(json.dumps([ok, value]) + "\n")
        sys.stdout.flush()

    try:
        started = time.perf_counter()
        farm = Farm(**farm_args)
        built = time.perf_counter() - started
        farm.start()
    except Exception as exc:
        answer(False, f"{type(exc).__name__}: {exc}")
        return 1

    def set_delay(seconds: float) -> None:
        farm.delay = seconds

    calls: dict[str, Callable[..., object]] = {
        "change": farm.change,
        "publish": farm.publish,
        "stats": lambda: vars(farm.stats()),
        "reset_stats": farm.reset_stats,
        "set_delay": set_delay,
        "asked_at": farm.asked_at,
    }
    try:
        answer(True, [farm.port, built, sum(len(farm.body(i)) for i in range(farm.feeds))])
        for line in sys.stdin:
            method, args = json.loads(line)
            try:
                answer(True, calls[method](*args))
            except Exception as exc:
                answer(False, f"{method}: {type(exc).__name__}: {exc}")
    finally:
        farm.stop()
    return 0


def feed_toml(urls: Sequence[str]) -> str:
    """[[feeds]] tables for a monitor config, one per URL."""
    return "".join(f'[[feeds]]\nurl = "{url}"\n\n' for url in urls)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve generated RSS/Atom feeds on loopback until Ctrl-C.")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer (default 0.1)")
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses to spread feeds over")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="gzip bodies for clients that accept it")
    parser.add_argument("--toml", type=Path, help="write [[feeds]] tables for a monitor config here")
    parser.add_argument("--control", metavar="JSON", help=argparse.SUPPRESS)  # FarmProcess's child
    args = parser.parse_args(argv)
    if args.control:
        return _control(json.loads(args.control))
    started = time.perf_counter()
    farm = Farm(
        feeds=args.feeds,
        items=args.items,
        delay=args.delay,
        hosts=args.hosts,
        port=args.port,
        seed=args.seed,
        gzip=args.gzip,
    )
    built = time.perf_counter() - started
    with farm:
        size = sum(len(farm.body(i)) for i in range(farm.feeds))
        print(
            f"farm: {farm.feeds} feeds on {min(farm.hosts, farm.feeds)} hosts, port {farm.port}, "
            f"{size / 1e6:.1f} MB, built in {built:.1f}s; delay {farm.delay}s"
        )
        print(f"      {farm.url(0)} ... {farm.url(farm.feeds - 1)}")
        if args.toml:
            args.toml.write_text(feed_toml(farm.urls), encoding="utf-8")
            print(f"      [[feeds]] tables written to {args.toml}")
        try:
            while True:
                time.sleep(10)
                print(f"farm: {farm.stats().line()}", flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
