"""Question understanding for the offline model: which tool to call, with which arguments.

The offline model has no language model behind it, so it reads a question with a few ordered,
deterministic rules: identifiers first (a sku or a GUID is unambiguous), then clear off-topic
requests, follow-ups about what an earlier turn found, and finally the vocabulary of customers,
orders and products. Everything here is a pure function of the text and the `Context`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Intent = Literal[
    "lookup",  # call the tools in `Route.calls`, then answer from their JSON
    "customer_orders",  # find a customer, then search their sales orders
    "followup",  # answer from an earlier turn's tool result, no tool needed
    "clarify",  # a follow-up ("how much is it?") with nothing found earlier
    "greeting",
    "thanks",
    "farewell",
    "help",
    "off_topic",
    "unknown",
]
Focus = Literal[
    "price",
    "sku",
    "category",
    "describe",
    "email",
    "phone",
    "address",
    "order_count",
    "summary",
]
Subject = Literal["product", "customer", "order"]

MAX_PARALLEL_LOOKUPS = 5
PRODUCT_SEARCH_K = 5  # a product family (one frame in four sizes) fits in one answer
CUSTOMER_ORDERS_K = 10
MAX_QUESTION_CHARS = 2000  # routing reads this much of a question (bounds the regex work)
MAX_QUERY_CHARS = 500  # the search tools' limit

# AdventureWorks-style skus: two letters, four characters with at least one digit, an optional
# size or colour suffix (FR-R92B-58, BK-M68B-42, HL-U509-R, LJ-0192-L, WB-H098). Requiring a
# digit keeps words such as "re-read" or "co-op" out.
SKU_RE = re.compile(
    r"(?<![\w-])([a-z]{2}-(?=[a-z0-9]{0,3}\d)[a-z0-9]{4}(?:-[a-z0-9]{1,3})?)(?![\w-])", re.I
)
GUID_RE = re.compile(
    r"(?<![\w-])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![\w-])", re.I
)


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)


CUSTOMER_RE = _words(
    r"customers?",
    r"clients?",
    r"who\s+bought",
    r"e-?mails?(?:\s+address(?:es)?)?",
    r"phones?(?:\s+numbers?)?",
    r"(?:lives?|living)\s+in",
    r"based\s+in",
)
ORDER_RE = _words(
    r"orders?",
    r"ordered",
    r"sales",
    r"purchases?",
    r"purchased",
    r"bought",
    r"shipped",
    r"shipping",
    r"ship\s+date",
    r"invoices?",
)
PRODUCT_RE = _words(
    r"prices?",
    r"priced",
    r"costs?",
    r"how\s+much",
    r"skus?",
    r"products?",
    r"items?",
    r"catalog(?:ue)?",
    r"sells?",
    r"carry",
    r"in\s+stock",
    r"do\s+you\s+(?:have|sell|carry|stock|offer)",
    r"what\s+is",
    r"what's",
    r"what\s+are",
    r"tell\s+me\s+about",
    r"describe",
    r"looking\s+for",
    r"recommend",
    r"cheapest",
    r"most\s+expensive",
    r"(?:mountain|road|touring)\s+\w+",
    r"(?:bikes?|bicycles?|frames?|helmets?|jerseys?|tires?|tyres?|tubes?|wheels?|rims?)",
    r"(?:saddles?|seats?|pedals?|chains?|brakes?|gloves?|shorts|socks?|caps?|vests?|jackets?)",
    r"(?:bottles?|cages?|racks?|locks?|pumps?|lights?|fenders?|derailleurs?|cranks(?:ets?)?)",
    r"(?:handlebars?|forks?|headsets?|bottom\s+brackets?|cables?|bags?|panniers?|shoes?|bibs?)",
    r"(?:tights|components?|accessor(?:y|ies)|clothing|apparel|gear|cleaners?|stands?|kits?)",
)
OFF_TOPIC_RE = _words(
    r"weather",
    r"forecast",
    r"capital\s+(?:city\s+)?of",
    r"poems?",
    r"jokes?",
    r"story",
    r"stories",
    r"songs?",
    r"essays?",
    r"lyrics",
    r"recipes?",
    r"president",
    r"prime\s+minister",
    r"stock\s+market",
    r"bitcoin",
    r"horoscope",
    r"translate",
    r"meaning\s+of\s+life",
    r"football",
    r"soccer",
    r"movies?",
    r"population\s+of",
    r"who\s+won",
    r"world\s+cup",
)
HELP_RE = re.compile(
    r"^(?:help|\?|what\s+can\s+you\s+do|who\s+are\s+you|what\s+are\s+you|how\s+do\s+(?:i|you)\s+"
    r"(?:use|work)(?:\s+this|\s+you)?|what\s+do\s+you\s+know)\W*$",
    re.I,
)
PRONOUN_RE = _words(
    r"it",
    r"its",
    r"it's",
    r"that(?:\s+one)?",
    r"this(?:\s+one)?",
    r"they",
    r"them",
    r"their",
    r"theirs",
    r"he",
    r"him",
    r"his",
    r"she",
    r"her",
    r"hers",
    r"the\s+same",
)
GREETING_WORDS = frozenset(
    "hi hello hey hiya howdy yo greetings good morning afternoon evening day there again all "
    "everyone folks team cosmic works assistant how are you doing is it going".split()
)
GREETING_STARTERS = frozenset(
    "hi hello hey hiya howdy yo greetings morning afternoon evening how".split()
)
THANKS_WORDS = frozenset(
    "thanks thank you thx ty cheers so much very a lot great ok okay cool nice awesome perfect "
    "that's that helps helped was helpful".split()
)
FAREWELL_WORDS = frozenset("bye goodbye see you later ciao good night cheers for now".split())

# Words that carry no topic: what is left of a question without them names the thing asked for.
FILLER_WORDS = frozenset(
    """
    what what's whats which who whom whose when where why how is are was were be been do does did
    has have had can could would will should shall may might the a an and or but of for in on at
    to from with by about as me my i you your we our us please tell show give find list look up
    get more much many also then so ok okay again just now any some all there here it its it's
    that this one ones they them their theirs he him his she her hers same price prices priced
    cost costs sku skus category categories description describe details detail info information
    email e-mail emails address addresses phone number numbers live lives living located city
    country order orders ordered buy bought purchase purchased purchases placed sales sale
    product products item items customer customers client clients kind type sort name named
    called who's where's come comes available in stock recent latest last newest oldest ship
    shipped shipping date dates anything everything include included includes including contain
    contains containing else other others another too well
    """.split()
)

_LEADING_FILLER = [
    re.compile(p, re.I)
    for p in (
        r"^(?:hi|hello|hey)\b[\s,!.]*",
        r"^(?:please|pls|ok|okay|so|and|also|then|now|well)\b[\s,]*",
        r"^(?:can|could|would|will)\s+you(?:\s+please)?(?:\s+(?:tell|show|give)\s+me|\s+find|"
        r"\s+list|\s+look\s+up|\s+check)?\s*",
        r"^(?:i(?:'d|\s+would)\s+like\s+to\s+know|i\s+(?:want|need)\s+to\s+know|do\s+you\s+know|"
        r"tell\s+me|show\s+me|give\s+me|find\s+me|search\s+for|look\s+up|get\s+me)\b\s*",
        r"^(?:find|list|show|get)\s+",
        r"^(?:what|which)(?:'s|\s+is|\s+was|\s+are|\s+were)?\s+(?:the\s+)?(?:current\s+)?"
        r"(?:price|cost|sku|skus|category|categories|description|details|list\s+price)\s+"
        r"(?:of|for)\s+",
        r"^(?:the\s+)?(?:price|cost|sku|category|description|details)\s+(?:of|for)\s+",
        r"^(?:what|which)\s+(?:price|sku|category|categories)\s+(?:is|are|does|do|has|have)\s+",
        r"^how\s+much\s+(?:is|are|was|were|does|do|did|would|will)\s+",
        r"^how\s+much\s+",
        r"^what\s+(?:does|do|did)\s+",
        r"^(?:what|who)(?:'s|\s+is|\s+are|\s+was|\s+were)\s+",
        r"^(?:more\s+)?(?:about|on)\s+",
        r"^do\s+you\s+(?:have|sell|carry|stock|offer)(?:\s+any)?\s+",
        r"^(?:are|is)\s+there(?:\s+any)?\s+",
        r"^(?:i'?m|i\s+am)\s+looking\s+for\s+",
        r"^(?:i\s+)?(?:want|need)\s+(?:to\s+buy\s+)?",
        r"^describe\s+",
        r"^(?:what|which)\s+(?:kinds?\s+of\s+|types?\s+of\s+)?",
        r"^(?:a|an|the|your|some|any|all)\s+",
        r"^(?:products?|items?)\s+(?:called|named|with|for|like)\s+",
    )
]
_TRAILING_FILLER = [
    re.compile(p, re.I)
    for p in (
        r"[\s?!.]+$",
        r"\s+(?:cost|costs|sell\s+for|go\s+for|priced\s+at)$",
        r"\s+do\s+you\s+(?:have|sell|carry|stock|offer)$",
        r"\s+(?:in\s+stock|for\s+sale|available)$",
        r"\s+(?:in|belong\s+to|belongs\s+to|have|has|listed\s+under|part\s+of)$",
        r"\s+please$",
    )
]
_CUSTOMER_ORDERS_RES = [
    re.compile(p, re.I)
    for p in (
        r"\bwhat\s+(?:did|has|have)\s+(?:the\s+)?(?:customer\s+|client\s+)?(?P<who>.+?)\s+"
        r"(?:order|ordered|buy|bought|purchase|purchased)\b",
        r"\b(?:has|have|did)\s+(?:the\s+)?(?:customer\s+|client\s+)?(?P<who>.+?)\s+"
        r"(?:ordered|bought|purchased|order|buy|purchase)\b",
        r"\b(?:orders?|purchases|sales(?:\s+orders)?)\s+(?:of|for|by|from|placed\s+by|made\s+by)"
        r"\s+(?:the\s+)?(?:customer|client)\s+(?P<who>.+)",
        r"\b(?:orders?|purchases)\s+(?:placed|made)\s+by\s+(?P<who>.+)",
        r"\b(?:customer|client)\s+(?P<who>.+?)(?:'s|’s)\s+(?:sales\s+)?(?:orders?|purchases)\b",
    )
]
_SELF_REFERENCES = frozenset(
    "they them he him she her it this that customer client the same one person".split()
)


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the model wants to make."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What earlier turns found, for follow-ups such as "and its price?"."""

    products: tuple[dict[str, Any], ...] = ()
    customer: dict[str, Any] | None = None
    latest: Subject | None = None


@dataclass(frozen=True)
class Route:
    """How to handle one question: its intent, what it asks about, and the tool calls to make."""

    intent: Intent
    subject: Subject | None = None
    focus: Focus = "summary"
    phrase: str = ""
    calls: tuple[ToolCallSpec, ...] = field(default_factory=tuple)


def find_skus(text: str) -> list[str]:
    """The skus in `text`, upper-cased, in order, without duplicates (GUIDs excluded)."""
    text = GUID_RE.sub(" ", text)
    return list(dict.fromkeys(match.upper() for match in SKU_RE.findall(text)))


def find_guids(text: str) -> list[str]:
    """The GUIDs in `text`, lower-cased, in order, without duplicates."""
    return list(dict.fromkeys(match.lower() for match in GUID_RE.findall(text)))


def tokens(text: str) -> list[str]:
    """Lower-case word tokens, keeping e-mail addresses and hyphenated names whole."""
    found = re.findall(r"[\w@.'’+-]+", text.lower())
    cleaned = (re.sub(r"(?:'s|’s)$", "", t).strip(".'’-+") for t in found)
    return [t for t in cleaned if t]


def detect_focus(question: str) -> Focus:
    """Which detail the question asks for; the answer leads with it."""
    checks: tuple[tuple[Focus, str], ...] = (
        ("price", r"\b(?:prices?|priced|costs?|how\s+much|expensive|cheap(?:er|est)?)\b"),
        ("category", r"\b(?:categor(?:y|ies)|kind\s+of|type\s+of)\b"),
        ("sku", r"\b(?:skus?|stock\s+keeping|part\s+numbers?|product\s+numbers?)\b"),
        ("email", r"\be-?mails?\b"),
        ("phone", r"\bphones?\b|\bcall\b"),
        ("address", r"\b(?:address(?:es)?|where|lives?|living|located|city|country)\b"),
        ("order_count", r"\bhow\s+many\s+(?:sales\s+)?orders\b"),
        (
            "describe",
            r"\b(?:what\s+is|what's|what\s+are|describe|description|tell\s+me\s+(?:more\s+)?about"
            r"|details?)\b",
        ),
    )
    for focus, pattern in checks:
        if re.search(pattern, question, re.I):
            return focus
    return "summary"


def _strip_filler(text: str) -> str:
    previous = None
    text = text.strip().strip("`\"'“”")
    while text != previous:
        previous = text
        for pattern in (*_LEADING_FILLER, *_TRAILING_FILLER):
            text = pattern.sub("", text).strip().strip("`\"'“”")
    return text


def product_phrase(question: str) -> str:
    """The product the question names: "What is the SKU of HL Road Frame - Black?" → its name."""
    return _strip_filler(question)


def topic_words(question: str, *, keep_names: bool = False) -> list[str]:
    """The question's words that are not filler (original case kept, for names and cities).

    With `keep_names`, a capitalised word after the first is kept even when it is a filler word:
    in "Is there a client called Ana Price?" the surname "Price" is the point.
    """
    kept = []
    for index, raw in enumerate(re.findall(r"[\w@.'’+-]+", question)):
        word = re.sub(r"(?:'s|’s)$", "", raw).strip(".'’-+")
        is_name = keep_names and index > 0 and word[:1].isupper() and word != "I"
        if word and (is_name or word.lower() not in FILLER_WORDS):
            kept.append(word)
    return kept


def _has_topic(text: str) -> bool:
    return bool(topic_words(text))


def _guid_subject(question: str, guid: str) -> Subject:
    """What a GUID identifies: the nearest preceding noun, else any noun, else a product."""
    before = question[: question.lower().find(guid)]
    nouns = re.findall(r"\b(product|item|customer|client|order|sale|purchase)s?\b", before, re.I)
    words = [n.lower() for n in nouns] or [
        n.lower()
        for n in re.findall(r"\b(order|sale|purchase|customer|client|product)s?\b", question, re.I)
    ]
    if not words:
        return "product"
    last = words[-1]
    if last in ("customer", "client"):
        return "customer"
    if last in ("order", "sale", "purchase"):
        return "order"
    return "product"


def _guid_route(question: str, guids: list[str]) -> Route:
    subject = _guid_subject(question, guids[0])
    guids = guids[:MAX_PARALLEL_LOOKUPS]
    after = question[question.lower().find(guids[0]) + len(guids[0]) :]
    wants_orders = ORDER_RE.search(after) or re.search(r"\borders\b", question, re.I)
    if subject == "customer" and wants_orders:
        calls = tuple(
            ToolCallSpec(
                "vector_search_sales", {"query": "orders", "customer_id": g, "k": CUSTOMER_ORDERS_K}
            )
            for g in guids
        )
        return Route("customer_orders", "customer", "summary", guids[0], calls)
    tool = {
        "product": "get_product_by_id",
        "customer": "get_customer_by_id",
        "order": "get_sales_by_id",
    }[subject]
    calls = tuple(ToolCallSpec(tool, {"id": g}) for g in guids)
    return Route("lookup", subject, detect_focus(question), "", calls)


def _sku_route(question: str, skus: list[str]) -> Route:
    if ORDER_RE.search(question) and not re.search(r"\bprices?\b|\bcosts?\b", question, re.I):
        # "Which orders contain FR-R92B-58?": the sku is what to look for in the orders.
        query = " ".join(skus)[:MAX_QUERY_CHARS]
        call = ToolCallSpec("vector_search_sales", {"query": query, "k": CUSTOMER_ORDERS_K})
        return Route("lookup", "order", "summary", query, (call,))
    calls = tuple(
        ToolCallSpec("get_product_by_sku", {"sku": sku}) for sku in skus[:MAX_PARALLEL_LOOKUPS]
    )
    return Route("lookup", "product", detect_focus(question), "", calls)


def _customer_name(customer: dict[str, Any]) -> str:
    name = customer.get("name") or " ".join(
        str(customer.get(k) or "") for k in ("firstName", "lastName")
    )
    return str(name).strip() or f"customer {customer_key(customer)}".strip()


def customer_key(customer: dict[str, Any]) -> str:
    """The id that sales orders reference (`customerId`, else `id`)."""
    return str(customer.get("customerId") or customer.get("id") or "")


def customer_orders_call(customer: dict[str, Any]) -> ToolCallSpec:
    """Search one customer's sales orders (the filter keeps other customers' orders out)."""
    return ToolCallSpec(
        "vector_search_sales",
        {
            "query": f"orders of {_customer_name(customer)}"[:MAX_QUERY_CHARS],
            "customer_id": customer_key(customer),
            "k": CUSTOMER_ORDERS_K,
        },
    )


def _followup_route(question: str, context: Context) -> Route | None:
    """A question about "it" / "they" answered from what an earlier turn found."""
    if not PRONOUN_RE.search(question) or _has_topic(question):
        return None
    focus = detect_focus(question)
    wants_orders = bool(ORDER_RE.search(question)) and focus != "order_count"
    if focus in ("email", "phone", "address", "order_count") or wants_orders:
        subject: Subject = "customer"
    elif focus in ("price", "sku", "category", "describe"):
        subject = "product"
    else:
        subject = "customer" if context.latest == "customer" else "product"
    if subject == "customer":
        if context.customer is None:
            return Route("clarify", "customer", focus)
        # The phrase is the customer's id: the answer finds the customer in the context by it.
        key = customer_key(context.customer)
        if wants_orders:
            call = customer_orders_call(context.customer)
            return Route("customer_orders", "customer", "summary", key, (call,))
        return Route("followup", "customer", focus, key)
    if not context.products:
        return Route("clarify", "product", focus)
    return Route("followup", "product", focus)


def _customer_orders_route(question: str) -> Route | None:
    for pattern in _CUSTOMER_ORDERS_RES:
        match = pattern.search(question)
        if not match:
            continue
        who = " ".join(topic_words(match.group("who"), keep_names=True))
        if who and who.lower() not in _SELF_REFERENCES:
            call = ToolCallSpec("vector_search_customers", {"query": who[:MAX_QUERY_CHARS]})
            return Route("customer_orders", "customer", "summary", who, (call,))
    return None


def _small_talk(question: str) -> Intent | None:
    words = tokens(question)
    if not words:
        return None
    if HELP_RE.match(question.strip()):
        return "help"
    if all(w in FAREWELL_WORDS for w in words) and any(w in ("bye", "goodbye") for w in words):
        return "farewell"
    if all(w in THANKS_WORDS for w in words) and any(
        w in ("thanks", "thank", "thx", "ty", "cheers") for w in words
    ):
        return "thanks"
    if all(w in GREETING_WORDS for w in words) and GREETING_STARTERS & set(words):
        return "greeting"
    return None


def route_question(question: str, context: Context | None = None) -> Route:
    """Decide how to handle `question`; `context` holds what earlier turns found."""
    context = context or Context()
    question = question.strip()[:MAX_QUESTION_CHARS]
    if not question:
        return Route("help")
    guids = find_guids(question)
    if guids:
        return _guid_route(question, guids)
    skus = find_skus(question)
    if skus:
        return _sku_route(question, skus)
    small_talk = _small_talk(question)
    if small_talk is not None:
        return Route(small_talk)
    if OFF_TOPIC_RE.search(question):
        return Route("off_topic")
    followup = _followup_route(question, context)
    if followup is not None:
        return followup
    customer_orders = _customer_orders_route(question)
    if customer_orders is not None:
        return customer_orders
    focus = detect_focus(question)
    if CUSTOMER_RE.search(question) or (focus == "order_count" and _has_topic(question)):
        words = topic_words(re.sub(r"\bwho\s+bought\b", " ", question, flags=re.I), keep_names=True)
        query = " ".join(words) or "customers"
        call = ToolCallSpec("vector_search_customers", {"query": query[:MAX_QUERY_CHARS]})
        return Route("lookup", "customer", focus, " ".join(words), (call,))
    if ORDER_RE.search(question):
        words = topic_words(question)
        query = " ".join(words) or "sales orders"
        call = ToolCallSpec("vector_search_sales", {"query": query[:MAX_QUERY_CHARS]})
        return Route("lookup", "order", "summary", " ".join(words), (call,))
    if PRODUCT_RE.search(question):
        phrase = product_phrase(question)
        if _has_topic(phrase):
            args = {"query": phrase[:MAX_QUERY_CHARS], "k": PRODUCT_SEARCH_K}
            call = ToolCallSpec("vector_search_products", args)
            return Route("lookup", "product", focus, phrase, (call,))
    return Route("unknown")
