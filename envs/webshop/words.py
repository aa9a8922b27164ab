"""The word lists the WebShop catalogue is generated from.

WebShop's five product categories (fashion, food, beauty, furniture, electronics),
each with its Amazon-style breadcrumb, product types, attribute phrases (what
instructions ask for: "gluten free", "machine washable"), title descriptors and
option vocabularies. A product type is ``(qualifier, noun, option keys, low price,
high price)``; an option key ``"size@waist"`` is shown as option ``size`` and draws
its values from the ``"size@waist"`` list.

Two rules keep rewards honest (and are tested): no attribute phrase contains
another, and no descriptor or generic sentence contains an attribute phrase, so the
text of a product only mentions the attributes it has.
"""

from __future__ import annotations

from dataclasses import dataclass

TypeRow = tuple[str, str, tuple[str, ...], float, float]


@dataclass(frozen=True)
class Category:
    name: str  # WebShop's category key
    top: str  # first breadcrumb level
    sections: dict[str, tuple[TypeRow, ...]]  # second breadcrumb level -> product types
    attributes: tuple[str, ...]
    descriptors: tuple[str, ...]  # title adjectives that are not attributes
    options: dict[str, tuple[str, ...]]
    features: tuple[str, ...]  # generic bullet points
    blurbs: tuple[str, ...]  # generic description sentences


_APPAREL = ("size", "color")
_FOOD = ("flavor", "size@food")

FASHION = Category(
    name="fashion",
    top="Clothing, Shoes & Jewelry",
    sections={
        "Men": (
            ("men's", "dress shirt", _APPAREL, 18, 65),
            ("men's", "t-shirt", _APPAREL, 8, 35),
            ("men's", "jeans", ("size@waist", "color"), 20, 80),
            ("men's", "hoodie", _APPAREL, 20, 70),
            ("men's", "running shoes", ("size@shoe", "color"), 35, 140),
        ),
        "Women": (
            ("women's", "blouse", _APPAREL, 14, 55),
            ("women's", "maxi dress", _APPAREL, 20, 90),
            ("women's", "leggings", _APPAREL, 10, 45),
            ("women's", "cardigan", _APPAREL, 18, 75),
            ("women's", "sandals", ("size@shoe", "color"), 15, 85),
        ),
    },
    attributes=(
        "machine washable",
        "hand wash",
        "slim fit",
        "relaxed fit",
        "long sleeve",
        "short sleeve",
        "button closure",
        "elastic waistband",
        "moisture wicking",
        "quick drying",
        "wrinkle free",
        "breathable fabric",
    ),
    descriptors=("classic", "casual", "everyday", "premium", "vintage", "athletic", "modern", "urban", "heritage"),
    options={
        "size": ("x-small", "small", "medium", "large", "x-large", "xx-large"),
        "size@waist": ("28w x 30l", "30w x 30l", "30w x 32l", "32w x 32l", "34w x 32l", "36w x 34l", "38w x 34l"),
        "size@shoe": ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12"),
        "color": (
            "black",
            "white",
            "navy blue",
            "heather grey",
            "burgundy",
            "olive green",
            "khaki",
            "royal blue",
            "light pink",
            "charcoal",
            "red",
            "beige",
        ),
    },
    features=(
        "Fits true to size; see the size chart for measurements",
        "Tagless neck label for all-day comfort",
        "Reinforced stitching at the seams",
        "Designed in the USA and imported",
    ),
    blurbs=(
        "A wardrobe staple that pairs well with almost anything.",
        "Made to keep its shape and color wear after wear.",
        "Dress it up or down for work, weekends and travel.",
    ),
)

FOOD = Category(
    name="food",
    top="Grocery & Gourmet Food",
    sections={
        "Snacks & Sweets": (
            ("", "potato chips", _FOOD, 3, 30),
            ("", "protein bars", _FOOD, 10, 45),
            ("", "trail mix", _FOOD, 6, 35),
            ("", "beef jerky", _FOOD, 8, 40),
            ("", "cookies", _FOOD, 4, 30),
        ),
        "Beverages": (
            ("", "cold brew coffee", _FOOD, 8, 40),
            ("", "herbal tea", _FOOD, 5, 30),
            ("", "sparkling water", ("flavor",), 5, 25),
        ),
        "Pantry Staples": (
            ("", "granola", _FOOD, 5, 28),
            ("", "pasta sauce", ("size@food",), 4, 25),
        ),
    },
    attributes=(
        "gluten free",
        "non gmo",
        "sugar free",
        "keto friendly",
        "low carb",
        "usda organic",
        "plant based",
        "dairy free",
        "high protein",
        "kosher certified",
        "low sodium",
        "individually wrapped",
    ),
    descriptors=("gourmet", "artisan", "homestyle", "authentic", "crunchy", "small batch", "farmhouse"),
    options={
        "flavor": (
            "original",
            "sea salt",
            "barbecue",
            "sour cream and onion",
            "chocolate chip",
            "peanut butter",
            "vanilla",
            "mixed berry",
            "honey",
            "cinnamon",
            "salted caramel",
            "lemon",
            "mint",
            "jalapeno",
        ),
        "size@food": (
            "5 ounce (pack of 1)",
            "8 ounce (pack of 3)",
            "12 ounce (pack of 2)",
            "1 pound (pack of 1)",
            "24 count (pack of 1)",
            "12 count (pack of 4)",
            "16 fl oz (pack of 6)",
            "2 pound (pack of 1)",
        ),
    },
    features=(
        "Packed fresh in a resealable bag",
        "Made in a facility that also processes tree nuts",
        "Great for lunch boxes, road trips and the office",
        "Store in a cool, dry place",
    ),
    blurbs=(
        "Small-batch recipes with ingredients you can pronounce.",
        "A pantry favorite for snacking between meals.",
        "Bold taste in every bite, from the first to the last.",
    ),
)

BEAUTY = Category(
    name="beauty",
    top="Beauty & Personal Care",
    sections={
        "Skin Care": (
            ("", "face moisturizer", ("size@beauty",), 8, 60),
            ("", "vitamin c serum", ("size@beauty",), 10, 55),
            ("", "sunscreen lotion", ("size@beauty",), 7, 35),
            ("", "body wash", ("scent", "size@beauty"), 5, 25),
        ),
        "Hair Care": (
            ("", "shampoo", ("scent", "size@beauty"), 6, 40),
            ("", "hair oil", ("scent", "size@beauty"), 8, 45),
            ("", "clip-in hair extensions", ("color@hair", "length"), 20, 120),
        ),
        "Makeup": (
            ("", "lipstick", ("color@shade",), 5, 30),
            ("", "eyeshadow palette", ("color@shade",), 8, 50),
            ("", "nail polish", ("color@shade", "size@beauty"), 4, 20),
        ),
    },
    attributes=(
        "cruelty free",
        "paraben free",
        "sulfate free",
        "long lasting",
        "sensitive skin",
        "alcohol free",
        "easy to apply",
        "natural ingredients",
        "dermatologist tested",
        "anti aging",
        "hyaluronic acid",
        "dry skin",
    ),
    descriptors=("daily", "gentle", "radiant", "professional", "luxury", "nourishing", "salon grade"),
    options={
        "scent": ("lavender", "unscented", "coconut", "rose", "citrus", "eucalyptus mint", "sandalwood", "cucumber"),
        "size@beauty": ("0.5 fl oz", "1 fl oz", "1.7 fl oz", "3.4 fl oz", "8 fl oz", "16 fl oz", "2 count"),
        "color@shade": ("ruby red", "nude", "coral", "berry", "mauve", "classic red", "pink", "plum", "brown"),
        "color@hair": ("jet black", "dark brown", "chestnut", "honey blonde", "ash blonde", "auburn"),
        "length": ("14 inch", "16 inch", "18 inch", "20 inch", "22 inch"),
    },
    features=(
        "Apply as part of your morning and evening routine",
        "Recyclable packaging",
        "Suitable for everyday use",
        "Patch test before first use",
    ),
    blurbs=(
        "A lightweight formula that absorbs quickly and leaves no residue.",
        "Formulated to fit into any routine, morning or night.",
        "Loved by beauty editors for its silky feel.",
    ),
)

FURNITURE = Category(
    name="furniture",
    top="Home & Kitchen",
    sections={
        "Living Room Furniture": (
            ("", "coffee table", ("color@wood",), 60, 260),
            ("", "tv stand", ("color@wood", "size@width"), 70, 300),
            ("", "bookshelf", ("color@wood", "size@tier"), 40, 200),
            ("", "accent chair", ("color@fabric",), 80, 350),
        ),
        "Bedroom Furniture": (
            ("", "bed frame", ("size@bed", "color@wood"), 90, 450),
            ("", "nightstand", ("color@wood",), 30, 160),
            ("", "dresser", ("color@wood",), 110, 480),
        ),
        "Home Office Furniture": (
            ("", "office chair", ("color@fabric",), 60, 320),
            ("", "standing desk", ("size@width", "color@wood"), 120, 520),
            ("", "filing cabinet", ("color@metal",), 50, 230),
        ),
    },
    attributes=(
        "easy assembly",
        "solid wood",
        "storage space",
        "space saving",
        "metal frame",
        "non slip",
        "mid century",
        "heavy duty",
        "easy clean",
        "engineered wood",
        "lumbar support",
        "adjustable height",
    ),
    descriptors=("rustic", "industrial", "minimalist", "contemporary", "scandinavian", "compact", "elegant"),
    options={
        "color@wood": ("espresso", "walnut", "white oak", "grey", "black", "natural", "rustic brown", "white"),
        "color@fabric": ("charcoal grey", "navy", "beige", "emerald green", "mustard yellow", "cream", "black"),
        "color@metal": ("black", "white", "silver", "grey"),
        "size@width": ("32 inch", "40 inch", "48 inch", "55 inch", "60 inch", "70 inch"),
        "size@tier": ("3-tier", "4-tier", "5-tier", "6-tier"),
        "size@bed": ("twin", "full", "queen", "king", "california king"),
    },
    features=(
        "All hardware and step-by-step instructions included",
        "Wipe with a damp cloth",
        "Ships flat-packed in one box",
        "Check the dimensions before ordering",
    ),
    blurbs=(
        "Clean lines and a sturdy build that suit any room.",
        "A practical piece that looks good for years.",
        "Designed to blend in with the furniture you already own.",
    ),
)

ELECTRONICS = Category(
    name="electronics",
    top="Electronics",
    sections={
        "Headphones & Audio": (
            ("", "wireless earbuds", ("color@device",), 15, 160),
            ("", "over-ear headphones", ("color@device",), 25, 300),
            ("", "bluetooth speaker", ("color@device",), 20, 180),
        ),
        "Computer Accessories": (
            ("", "wireless mouse", ("color@device",), 9, 70),
            ("", "mechanical keyboard", ("style@switch", "color@device"), 30, 160),
            ("", "usb flash drive", ("capacity",), 6, 45),
            ("", "laptop stand", ("color@device",), 15, 60),
        ),
        "Cell Phone Accessories": (
            ("", "phone case", ("style@phone", "color@device"), 6, 40),
            ("", "power bank", ("capacity@battery", "color@device"), 15, 70),
            ("", "charging cable", ("size@cable", "color@device"), 5, 25),
        ),
    },
    attributes=(
        "fast charging", "noise cancelling", "long battery life", "water resistant", "plug and play", "high speed",
        "hands free", "wireless charging", "shockproof", "ergonomic design", "backlit keys", "dual band",
    ),
    descriptors=("portable", "ultra slim", "pro", "smart", "universal", "travel", "next gen"),
    options={
        "color@device": ("black", "white", "silver", "space gray", "midnight blue", "rose gold", "red", "green"),
        "style@switch": ("blue switch", "red switch", "brown switch"),
        "style@phone": ("iphone 14", "iphone 14 pro", "iphone 15", "iphone 15 pro max", "galaxy s23", "pixel 8"),
        "capacity": ("32gb", "64gb", "128gb", "256gb", "512gb"),
        "capacity@battery": ("5000mah", "10000mah", "20000mah", "26800mah"),
        "size@cable": ("3 ft", "6 ft", "10 ft"),
    },
    features=(
        "Works with most phones, tablets and laptops",
        "12-month warranty and friendly customer support",
        "What's in the box: the device and a quick start guide",
        "Tested for everyday wear",
    ),
    blurbs=(
        "Built for people who are always on the move.",
        "Setup takes a minute and it just works.",
        "A reliable upgrade for your desk or your bag.",
    ),
)  # fmt: skip

CATEGORIES: tuple[Category, ...] = (FASHION, FOOD, BEAUTY, FURNITURE, ELECTRONICS)

# Brands are two syllables glued together ("Northfield"); they are proper nouns in titles.
BRAND_HEADS = (
    "north", "river", "stone", "blue", "gold", "oak", "silver", "maple", "sun", "cedar", "iron", "wild", "pine",
    "harbor", "summit", "lumen", "velo", "true",
)  # fmt: skip
BRAND_TAILS = ("field", "crest", "wood", "line", "peak", "brook", "haven", "works", "craft", "mark", "ly", "ora")
BRANDS: tuple[str, ...] = tuple((head + tail).capitalize() for head in BRAND_HEADS for tail in BRAND_TAILS)

# The words searches may drop: too common to tell products apart.
STOPWORDS = frozenset(
    "a an and are as at be by for from in is it of on or that the this to with i need want looking would like "
    "price lower than dollars".split()
)
