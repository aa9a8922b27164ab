"""The made-up web sites WebNav tasks happen on: one function per kind of site, each drawing a task and the
recorded steps that do it (the pages, the element acted on, the operation and its value).

    site = SITES["flight"](random.Random(7))
    site.task            # "Search for a one-way flight from Denver, CO to Austin, TX on June 14 for 2 adults."
    site.pages[0]        # {"title": "Book a flight", "url": "...", "elements": [{"tag", "text", "attrs", "options"}]}
    site.steps[0]        # {"page": 0, "target": 12, "op": "CLICK", "value": "", "thought": "..."}

Every page carries the site's header and footer links, and the forms hold the fields a task does not need, so the
other elements of a page are plausible wrong answers. Element texts are unique on a page. Only the ``rng`` passed
in is used, so the same seed always draws the same site.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Element = dict[str, Any]

CITIES = (
    ("Boston", "MA", "BOS"), ("Denver", "CO", "DEN"), ("Chicago", "IL", "ORD"), ("Seattle", "WA", "SEA"),
    ("Austin", "TX", "AUS"), ("Miami", "FL", "MIA"), ("Atlanta", "GA", "ATL"), ("Phoenix", "AZ", "PHX"),
    ("Portland", "OR", "PDX"), ("Portland", "ME", "PWM"), ("Nashville", "TN", "BNA"), ("San Diego", "CA", "SAN"),
    ("Las Vegas", "NV", "LAS"), ("New Orleans", "LA", "MSY"), ("Salt Lake City", "UT", "SLC"),
    ("Minneapolis", "MN", "MSP"), ("Charlotte", "NC", "CLT"), ("Pittsburgh", "PA", "PIT"),
    ("Kansas City", "MO", "MCI"), ("Columbus", "OH", "CMH"), ("Springfield", "IL", "SPI"),
    ("Springfield", "MO", "SGF"), ("Raleigh", "NC", "RDU"), ("Tucson", "AZ", "TUS"),
)  # fmt: skip
MONTHS = ("May", "June", "July", "August", "September", "October")
FIRST = ("Maya", "Liam", "Ava", "Noah", "Zoe", "Ethan", "Iris", "Omar", "Lena", "Hugo", "Nina", "Raj", "Chloe", "Theo")
LAST = ("Patel", "Nguyen", "Garcia", "Kim", "Okafor", "Schmidt", "Rossi", "Silva", "Cohen", "Ward", "Lund", "Haddad")
HEADER = ("Home", "Deals", "Help", "My account", "Gift cards", "Contact us", "Español", "Stores", "Rewards", "Blog")
FOOTER = ("About us", "Careers", "Privacy policy", "Terms of use", "Accessibility", "Site map", "Press", "Cookies")


@dataclass
class Site:
    """A task on one web site: its pages and the recorded steps (see the module docstring)."""

    name: str
    domain: str
    rng: random.Random
    task: str = ""
    pages: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    reserved: tuple[str, ...] = ()  # texts the site's own pages use, kept out of its header and footer
    chrome: tuple[list[Element], list[Element]] = field(default_factory=lambda: ([], []))

    def __post_init__(self) -> None:
        header = [el("a", text) for text in self.rng.sample([t for t in HEADER if t not in self.reserved], 4)]
        footer = [el("a", text) for text in self.rng.sample([t for t in FOOTER if t not in self.reserved], 3)]
        self.chrome = ([el("a", f"{self.name} home page"), *header, el("button", "Sign in")], footer)

    def page(self, title: str, path: str, elements: list[Element]) -> int:
        """Add a page (the site's header and footer around ``elements``); its index."""
        header, footer = self.chrome
        slug = self.name.lower().replace(" ", "")
        items = [*header, el("h1", title), *elements, *footer]
        self.pages.append({"title": title, "url": f"https://www.{slug}.com/{path}", "elements": items})
        return len(self.pages) - 1

    def step(self, page: int, text: str, op: str = "CLICK", value: str = "", thought: str = "") -> None:
        """Record acting on the element of ``page`` whose text is ``text``."""
        texts = [element["text"] for element in self.pages[page]["elements"]]
        self.steps.append({"page": page, "target": texts.index(text), "op": op, "value": value, "thought": thought})


def el(tag: str, text: str, attrs: str = "", options: tuple[str, ...] | list[str] = ()) -> Element:
    return {"tag": tag, "text": text, "attrs": attrs, "options": list(options)}


# ------------------------------------------------------------------------------------------------ helpers


def _date(rng: random.Random) -> tuple[str, int]:
    return rng.choice(MONTHS), rng.randint(3, 24)


def _calendar(month: str, days: list[int]) -> list[Element]:
    """Day buttons around the wanted days, as a date picker shows a stretch of the month."""
    first, last = max(1, min(days) - 3), min(28, max(days) + 3)
    return [el("h2", month), *(el("button", f"{month} {day}", "calendar day") for day in range(first, last + 1))]


def _city_suggestions(rng: random.Random, city: tuple[str, str, str], airports: bool) -> list[Element]:
    """What a location box lists after typing a city: the city, its namesakes, and a few others."""
    others = [c for c in CITIES if c != city]
    namesakes = [c for c in others if c[0] == city[0]]
    shown = [city, *namesakes, *rng.sample([c for c in others if c not in namesakes], 3)]
    rng.shuffle(shown)
    return [el("li", _place(c, airports), "option") for c in shown]


def _place(city: tuple[str, str, str], airport: bool) -> str:
    name, state, code = city
    return f"{name}, {state}, US ({code})" if airport else f"{name}, {state}, United States"


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{rng.choice(('mail.com', 'inbox.org', 'post.net'))}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# ------------------------------------------------------------------------------------------------ sites


def flight(rng: random.Random) -> Site:
    site = Site(rng.choice(("SkyWay Airlines", "Northwind Air", "BlueJet", "AeroLink")), "Travel", rng)
    origin, destination = rng.sample(CITIES, 2)
    month, day = _date(rng)
    adults, one_way = rng.choice((1, 1, 2, 3, 4)), rng.random() < 0.5
    back = rng.randint(day + 1, day + 4)
    route = f"from {origin[0]}, {origin[1]} to {destination[0]}, {destination[1]}"
    when = f"on {month} {day}" if one_way else f"leaving {month} {day} and coming back {month} {back}"
    trip, people = "one-way" if one_way else "round-trip", _plural(adults, "adult", "adults")
    site.task = f"Search for a {trip} flight {route} {when} for {people}."
    form = [
        el("button", "Round trip", "tab"), el("button", "One-way", "tab"), el("button", "Multi-city", "tab"),
        el("input", "From", "text departure city or airport"), el("input", "To", "text arrival city or airport"),
        el("button", "Depart date", "date picker"), el("button", "Return date", "date picker"),
        el("select", "Passengers", "travelers", [_plural(n, "Adult", "Adults") for n in range(1, 7)]),
        el("select", "Cabin", "class", ("Economy", "Premium economy", "Business", "First")),
        el("button", "Search flights", "submit"), el("a", "Flight status"), el("a", "Check in"),
    ]  # fmt: skip
    home = site.page("Book a flight", "flights", form)
    if one_way:
        site.step(home, "One-way", thought="The trip is one way, so I will switch the form to one-way first.")
    for label, city in (("From", origin), ("To", destination)):
        site.step(home, label, "TYPE", city[0], thought=f"I will type {city[0]} into the {label} box.")
        listed = site.page("Book a flight", "flights", [*form, *_city_suggestions(rng, city, airports=True)])
        site.step(listed, _place(city, True), thought=f"I will pick {city[0]}, {city[1]} from the suggestions.")
    dates = site.page(
        "Choose your dates", "flights#dates", [*form, *_calendar(month, [day] if one_way else [day, back])]
    )
    site.step(dates, f"{month} {day}", thought=f"The flight leaves on {month} {day}; I will pick that day.")
    if not one_way:
        site.step(dates, f"{month} {back}", thought=f"The return flight is on {month} {back}.")
    if adults > 1:
        wanted = _plural(adults, "Adult", "Adults")
        site.step(home, "Passengers", "SELECT", wanted, thought=f"There are {adults} travellers; I select {wanted}.")
    site.step(home, "Search flights", thought="Everything is filled in, so I will search for flights.")
    return site


def hotel(rng: random.Random) -> Site:
    site = Site(rng.choice(("StayFinder", "RoomRover", "InnSight", "Harbor Hotels")), "Travel", rng)
    city = rng.choice(CITIES)
    month, day = rng.choice(MONTHS), rng.randint(3, 20)
    nights, guests, breakfast = rng.randint(1, 5), rng.randint(1, 4), rng.random() < 0.5
    extra = " with free breakfast" if breakfast else ""
    site.task = (
        f"Find a hotel{extra} in {city[0]}, {city[1]}, checking in on {month} {day} and checking out on "
        f"{month} {day + nights}, for {_plural(guests, 'guest', 'guests')}."
    )
    form = [
        el("input", "Where are you going?", "text destination"), el("button", "Check-in", "date picker"),
        el("button", "Check-out", "date picker"), el("select", "Guests", "guests", [_plural(n, "guest", "guests")
        for n in range(1, 7)]), el("select", "Rooms", "rooms", ("1 room", "2 rooms", "3 rooms")),
        el("button", "Search hotels", "submit"), el("a", "Vacation rentals"),
    ]  # fmt: skip
    home = site.page("Find your stay", "hotels", form)
    site.step(home, "Where are you going?", "TYPE", city[0], thought=f"I will type {city[0]} as the destination.")
    listed = site.page("Find your stay", "hotels", [*form, *_city_suggestions(rng, city, airports=False)])
    site.step(listed, _place(city, False), thought=f"{city[0]}, {city[1]} is in the suggestions; I will pick it.")
    dates = site.page("Select dates", "hotels#dates", [*form, *_calendar(month, [day, day + nights])])
    site.step(dates, f"{month} {day}", thought=f"Check-in is on {month} {day}.")
    site.step(dates, f"{month} {day + nights}", thought=f"Check-out is on {month} {day + nights}.")
    if guests != 2:  # the form starts at 2 guests
        wanted = _plural(guests, "guest", "guests")
        site.step(home, "Guests", "SELECT", wanted, thought=f"I will set the number of guests to {wanted}.")
    site.step(home, "Search hotels", thought="The dates and guests are set, so I will search.")
    if breakfast:
        names = ("Free breakfast", "Pool", "Free parking", "Pet friendly", "Free cancellation")
        filters = [el("h2", "Filter by"), *(el("input", name, "checkbox") for name in names)]
        results = site.page(f"Hotels in {city[0]}", "hotels/results", filters)
        site.step(results, "Free breakfast", thought="The user wants free breakfast, so I will tick that filter.")
    return site


def restaurant(rng: random.Random) -> Site:
    site = Site(rng.choice(("TableTime", "DineNow", "Forkful")), "Travel", rng)
    names = [f"The {a} {n}" for a in ("Copper", "Olive", "Golden", "Rustic", "Smoky", "Green", "Silver")
             for n in ("Spoon", "Table", "Garden", "Kitchen", "Bistro", "Grill", "Tavern")]  # fmt: skip
    shown = rng.sample(names, 5)
    name, city = shown[0], rng.choice(CITIES)
    month, day = _date(rng)
    party, time = rng.randint(1, 8), rng.choice(("5:30 PM", "6:00 PM", "6:30 PM", "7:00 PM", "7:30 PM", "8:00 PM"))
    site.task = (
        f"Book a table for {_plural(party, 'person', 'people')} at {name} in {city[0]} on {month} {day} at {time}."
    )
    home = site.page("Reserve a table", "", [el("input", "Restaurant or cuisine", "search"), el("button", "Let's go")])
    site.step(home, "Restaurant or cuisine", "TYPE", name, thought=f"I will search for {name}.")
    site.step(home, "Let's go", thought="I will run the search.")
    rng.shuffle(shown)
    results = site.page("Search results", "search", [el("a", n, "restaurant") for n in shown])
    site.step(results, name, thought=f"{name} is in the results; I will open its page.")
    booking = [
        el("select", "Party size", "party", [_plural(n, "person", "people") for n in range(1, 11)]),
        el("select", "Time", "time", [f"{h}:{m} PM" for h in range(5, 10) for m in ("00", "30")]),
        el("button", "Date", "date picker"), el("button", "Find a table", "submit"), el("a", "Menu"),
        el("a", "Reviews"), el("button", "Save to favorites"),
    ]  # fmt: skip
    page = site.page(name, "restaurant", booking)
    wanted = _plural(party, "person", "people")
    site.step(page, "Party size", "SELECT", wanted, thought=f"The table is for {wanted}.")
    site.step(page, "Time", "SELECT", time, thought=f"The reservation is at {time}.")
    dates = site.page(name, "restaurant#date", [*booking, *_calendar(month, [day])])
    site.step(dates, f"{month} {day}", thought=f"The date is {month} {day}.")
    site.step(page, "Find a table", thought="Party, time and date are set; I will look for a table.")
    return site


_PRODUCTS = (
    ("running shoes", ("7", "8", "9", "10", "11", "12")), ("rain jacket", ("XS", "S", "M", "L", "XL")),
    ("hiking backpack", ("20 L", "30 L", "45 L")), ("wool sweater", ("S", "M", "L", "XL")),
    ("yoga pants", ("XS", "S", "M", "L")), ("sun hat", ("S/M", "L/XL")), ("desk lamp", ("Small", "Large")),
)  # fmt: skip
_COLORS = ("Black", "Navy", "Olive", "Gray", "Red", "White", "Teal", "Sand")
_BRANDS = ("Trailhead", "Northpeak", "Urbanite", "Kestrel", "Lumen", "Fernwood", "Solstice", "Brightline")


def shop(rng: random.Random) -> Site:
    site = Site(rng.choice(("ShopMart", "Outfitters Co", "Cartwheel")), "Shopping", rng)
    product, sizes = rng.choice(_PRODUCTS)
    brands = rng.sample(_BRANDS, 5)
    brand, size, colors = brands[0], rng.choice(sizes), rng.sample(_COLORS, 4)
    color, quantity = colors[0], rng.choice((1, 1, 1, 2, 3))
    what = f"{_plural(quantity, 'unit', 'units')} of " if quantity > 1 else ""
    site.task = f"Add {what}the {brand} {product} in {color.lower()}, size {size}, to the shopping cart."
    home = site.page(site.name, "", [el("input", "Search products", "search"), el("button", "Search", "submit"),
                                     el("a", "New arrivals"), el("a", "Sale")])  # fmt: skip
    site.step(home, "Search products", "TYPE", product, thought=f"I will search the shop for {product}.")
    site.step(home, "Search", thought="I will run the search.")
    rng.shuffle(brands)
    results = site.page(
        f"Results for {product}", "search", [el("a", f"{b} {product.title()}", "product") for b in brands]
    )
    site.step(results, f"{brand} {product.title()}", thought=f"The {brand} one is what the user wants; I open it.")
    rng.shuffle(colors)
    item = [
        el("select", "Size", "size", sizes), el("select", "Color", "color", colors),
        el("select", "Quantity", "quantity", [str(n) for n in range(1, 6)]),
        el("button", "Add to cart", "submit"), el("button", "Add to wish list"), el("a", "Size guide"),
    ]  # fmt: skip
    page = site.page(f"{brand} {product.title()}", "product", item)
    site.step(page, "Size", "SELECT", size, thought=f"The size is {size}.")
    site.step(page, "Color", "SELECT", color, thought=f"The color is {color.lower()}.")
    if quantity > 1:
        site.step(page, "Quantity", "SELECT", str(quantity), thought=f"The user wants {quantity} of them.")
    site.step(page, "Add to cart", thought="Size and color are chosen, so I add it to the cart.")
    return site


_AGES = ("18-20", "21-24", "25-64", "65+")


def _a(kind: str) -> str:
    return f"an {kind.lower()}" if kind[0] in "AEIOU" else f"a {kind if kind == 'SUV' else kind.lower()}"


def car_rental(rng: random.Random) -> Site:
    site = Site(rng.choice(("DriveAway", "RentRight", "Motorpool")), "Travel", rng)
    city = rng.choice(CITIES)
    month, day = rng.choice(MONTHS), rng.randint(3, 20)
    days, age = rng.randint(2, 7), rng.choice(_AGES)
    kind = rng.choice(("Economy", "Compact", "Midsize", "SUV", "Minivan", "Luxury"))
    site.task = (
        f"Find {_a(kind)} rental car at {city[0]}, {city[1]} from {month} {day} "
        f"to {month} {day + days}; the driver is aged {age}."
    )
    form = [
        el("input", "Pick-up location", "text city or airport"), el("button", "Pick-up date", "date picker"),
        el("button", "Return date", "date picker"), el("select", "Driver age", "age", _AGES),
        el("button", "Search cars", "submit"), el("a", "Manage booking"),
    ]  # fmt: skip
    home = site.page("Rent a car", "cars", form)
    site.step(home, "Pick-up location", "TYPE", city[0], thought=f"I will type {city[0]} as the pick-up location.")
    listed = site.page("Rent a car", "cars", [*form, *_city_suggestions(rng, city, airports=True)])
    site.step(listed, _place(city, True), thought=f"I will pick {city[0]}, {city[1]} from the list.")
    dates = site.page("Rent a car", "cars#dates", [*form, *_calendar(month, [day, day + days])])
    site.step(dates, f"{month} {day}", thought=f"Pick-up is on {month} {day}.")
    site.step(dates, f"{month} {day + days}", thought=f"The car goes back on {month} {day + days}.")
    site.step(home, "Driver age", "SELECT", age, thought=f"The driver is aged {age}.")
    site.step(home, "Search cars", thought="I will search for cars now.")
    classes = ("Economy", "Compact", "Midsize", "SUV", "Minivan", "Luxury")
    results = site.page("Available cars", "cars/results", [el("h2", "Car type"),
                        *(el("input", c, "checkbox") for c in classes)])  # fmt: skip
    site.step(results, kind, thought=f"The user wants {kind}; I will filter the results by it.")
    return site


_MESSAGES = {  # topic -> (what the task calls it, the message)
    "Billing": (("a billing question", "I was charged twice this month."),
                ("my bill", "Please send me a copy of my last invoice.")),
    "Technical problem": (("a technical problem", "The app crashes when I open it."),
                          ("an error on the site", "The payment page shows an error.")),
    "Account access": (("logging in", "I cannot log in to my account."),
                       ("a locked account", "My account was locked after a password reset.")),
    "Delivery": (("a late delivery", "My order has not arrived yet."),
                 ("a delivery address", "Please change the delivery address of my order.")),
    "Returns": (("a return", "I would like to return a damaged item."),
                ("a refund", "I returned an item two weeks ago and have no refund yet.")),
}  # fmt: skip


def support_form(rng: random.Random) -> Site:
    site = Site(rng.choice(("Maple Bank", "Brightline Energy", "CityNet", "Parcelway")), "Service", rng)
    name, email = _person(rng)
    topics = tuple(_MESSAGES)
    topic = rng.choice(topics)
    about, message = rng.choice(_MESSAGES[topic])
    site.task = f"Contact {site.name} about {about} as {name} ({email}) with the message: {message}"
    home = site.page(site.name, "", [el("a", "Support"), el("a", "Plans"), el("a", "Find a branch")])
    site.step(home, "Support", thought="The contact form is under Support.")
    form = [
        el("input", "Full name", "text"), el("input", "Email address", "email"), el("input", "Phone number", "tel"),
        el("select", "Topic", "topic", topics), el("textarea", "Your message", "message"),
        el("button", "Send message", "submit"), el("a", "FAQ"), el("a", "Live chat"),
    ]  # fmt: skip
    page = site.page("Contact us", "support/contact", form)
    site.step(page, "Full name", "TYPE", name, thought=f"I will fill in the name, {name}.")
    site.step(page, "Email address", "TYPE", email, thought="Next the email address.")
    site.step(page, "Topic", "SELECT", topic, thought=f"The topic is {topic}.")
    site.step(page, "Your message", "TYPE", message, thought="Now the message itself.")
    site.step(page, "Send message", thought="The form is complete, so I send it.")
    return site


def jobs(rng: random.Random) -> Site:
    site = Site(
        rng.choice(("Crestline Health", "Orbit Retail", "Juniper Labs")), "Service", rng, reserved=("Careers",)
    )
    titles = (
        "Data Analyst",
        "Registered Nurse",
        "Software Engineer",
        "Store Manager",
        "Graphic Designer",
        "Accountant",
    )
    title, city = rng.choice(titles), rng.choice(CITIES)
    locations = sorted({f"{c[0]}, {c[1]}" for c in rng.sample(CITIES, 5)} | {f"{city[0]}, {city[1]}"})
    site.task = f"Find a {title} job at {site.name} in {city[0]}, {city[1]} and open its application."
    home = site.page(site.name, "", [el("a", "Careers"), el("a", "Investors"), el("a", "Our story")])
    site.step(home, "Careers", thought="Jobs are listed under Careers.")
    form = [el("input", "Job title or keyword", "search"), el("select", "Location", "location", locations),
            el("button", "Search jobs", "submit"), el("a", "Students and graduates")]  # fmt: skip
    search = site.page("Careers", "careers", form)
    site.step(search, "Job title or keyword", "TYPE", title, thought=f"I will search for {title}.")
    site.step(search, "Location", "SELECT", f"{city[0]}, {city[1]}", thought=f"The job should be in {city[0]}.")
    site.step(search, "Search jobs", thought="I will run the job search.")
    places = rng.sample([c for c in CITIES if c != city], 3) + [city]
    rng.shuffle(places)
    listing = [el("a", f"{title} - {c[0]}, {c[1]}", "job") for c in places]
    results = site.page("Open positions", "careers/results", listing)
    site.step(results, f"{title} - {city[0]}, {city[1]}", thought=f"This is the {title} opening in {city[0]}.")
    job = site.page(title, "careers/job", [el("button", "Apply now", "submit"), el("button", "Share"),
                                           el("a", "Benefits")])  # fmt: skip
    site.step(job, "Apply now", thought="I will open the application.")
    return site


_ARTISTS = ("The Midnight Owls", "Luna Grey", "Copper Canyon", "Echo Park Trio", "Velvet Static", "Nora Vance",
            "The Tin Lanterns", "Harbor Lights")  # fmt: skip
_VENUES = ("Red Rock Amphitheatre", "The Fillmore", "City Arena", "Union Hall", "Riverside Stadium", "The Blue Room")


def tickets(rng: random.Random) -> Site:
    site = Site(rng.choice(("TicketHub", "StageDoor", "GigPass")), "Entertainment", rng)
    artist, venue = rng.choice(_ARTISTS), rng.choice(_VENUES)
    month, day = _date(rng)
    count = rng.randint(1, 6)
    site.task = f"Buy {_plural(count, 'ticket', 'tickets')} for {artist} at {venue} on {month} {day}."
    home = site.page(site.name, "", [el("input", "Search artists, events or venues", "search"), el("button", "Search"),
                                     el("a", "Concerts"), el("a", "Sports"), el("a", "Theater")])  # fmt: skip
    site.step(home, "Search artists, events or venues", "TYPE", artist, thought=f"I will search for {artist}.")
    site.step(home, "Search", thought="I will run the search.")
    shows = {(venue, month, day)}
    while len(shows) < 5:
        shows.add((rng.choice(_VENUES), month, rng.randint(1, 28)))
    events = [el("a", f"{artist} at {v}, {m} {d}", "event") for v, m, d in sorted(shows, key=lambda s: (s[2], s[0]))]
    results = site.page(f"{artist} tickets", "search", events)
    site.step(results, f"{artist} at {venue}, {month} {day}", thought=f"This is the {month} {day} show at {venue}.")
    event = [el("select", "Quantity", "tickets", [_plural(n, "ticket", "tickets") for n in range(1, 9)]),
             el("button", "Find tickets", "submit"), el("a", "Venue info"), el("button", "Follow artist")]  # fmt: skip
    page = site.page(f"{artist} at {venue}", "event", event)
    wanted = _plural(count, "ticket", "tickets")
    site.step(page, "Quantity", "SELECT", wanted, thought=f"The user wants {wanted}.")
    site.step(page, "Find tickets", thought="I will look for seats now.")
    return site


SITES: dict[str, Callable[[random.Random], Site]] = {
    "flight": flight,
    "hotel": hotel,
    "restaurant": restaurant,
    "shop": shop,
    "car_rental": car_rental,
    "support_form": support_form,
    "jobs": jobs,
    "tickets": tickets,
}
