"""The offline extractor: entities, relations and summaries from rules, with no model or network.

Runs when no LLM is configured. Entities are capitalised name spans, acronyms and dates, typed
by honorifics, a given-name list, name suffixes, small gazetteers and the words around them.
Relations join entities of one sentence and are labelled by the verb phrase between them.
Everything is deterministic: the same text gives the same extraction.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from graphmill.cognify import lexicon as lx
from graphmill.cognify.lexicon import CONCEPT, DATE, LOCATION, ORGANIZATION, PERSON
from graphmill.graph.model import Entity, Extraction, Relation, normalize_name

MENTIONED_WITH = "mentioned_with"  # the fallback link of an entity no verb phrase reaches
DESCRIPTION_CHARS = 300
MAX_SENTENCE = 1000  # characters; longer runs without a sentence end are cut
MAX_NAME_TOKENS = 12


@dataclass(frozen=True)
class _Verbs:
    past_of: dict[str, str]  # every form -> past tense: the canonical form in labels
    base_of: dict[str, str]  # every form -> base form
    base_forms: frozenset[str]  # "build", "builds": also nouns, so verbs only after a subject
    done_forms: frozenset[str]  # "built", "wrote", "written"
    participles: frozenset[str]  # "built", "written": passive when after "be" or before "by"


def _verb_tables() -> _Verbs:
    past_of: dict[str, str] = {}
    base_of: dict[str, str] = {}
    participles: set[str] = set()
    base_forms: set[str] = set()
    done_forms: set[str] = set()
    for entry in lx.VERB_LEXICON.split():
        base, *irregular = entry.split(":")
        if irregular:
            past, participle = irregular
        elif base in lx.DOUBLE_FINAL:
            past = participle = base + base[-1] + "ed"
        elif base.endswith("e"):
            past = participle = base + "d"
        elif base.endswith("y") and base[-2] not in "aeiou":
            past = participle = base[:-1] + "ied"
        else:
            past = participle = base + "ed"
        if base.endswith(("s", "x", "z", "ch", "sh", "o")):
            third = base + "es"
        elif base.endswith("y") and base[-2] not in "aeiou":
            third = base[:-1] + "ies"
        else:
            third = base + "s"
        if base.endswith("ie"):
            ing = base[:-2] + "ying"
        elif base.endswith("e") and not base.endswith("ee") and base != "be":
            ing = base[:-1] + "ing"
        elif base in lx.DOUBLE_FINAL:
            ing = base + base[-1] + "ing"
        else:
            ing = base + "ing"
        for form in (base, third, ing, past, participle):
            past_of.setdefault(form, past)
            base_of.setdefault(form, base)
        base_forms.update((base, third))
        done_forms.update((past, participle))
        participles.add(participle)
    return _Verbs(
        past_of,
        base_of,
        frozenset(base_forms - lx.AUX),
        frozenset(done_forms - lx.AUX),
        frozenset(participles - lx.AUX),
    )


_VERBS = _verb_tables()
_PAST_OF = _VERBS.past_of


# --- sentences and tokens ------------------------------------------------------------------

# sentence ends, blank lines, list items, table cells and "Key: value" lines
_BOUNDARY = re.compile(
    r"[.!?…]+[\"'”’)\]]*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*•#>]|\d+[.)])\s)|\s*\|\s*"
    r"|\n(?=[ \t]*[A-Z][\w -]{0,30}:\s)"
)
_TOKEN = re.compile(
    r"(?:[A-Za-z]\.){2,}"  # U.S., e.g., D.C.
    r"|(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Ft|Gen|Col|Lt|Sgt|Capt|Rev|Hon|Gov|Sen|Rep|Inc|Ltd|Co"
    r"|Corp|Bros|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.(?!\w)"
    r"|[A-Z]\.(?=\s+[A-Z])"  # an initial: J. K. Rowling
    r"|['’]s(?!\w)"  # possessive
    r"|\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?"
    r"|[^\W\d_]\w*(?:['’](?!s(?!\w))[^\W\d_]\w*)*(?:\+\+?(?![\w+]))?"
    r"|\S"
)
_WORD = re.compile(r"(?<![\w'’-])[^\W\d_]+(?![\w'’-])")
_WORD_AFTER = re.compile(r"[\"'“‘(\[]*([^\W_][\w.]*)")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group().startswith((".", "!", "?", "…")) and not _is_boundary(text, match):
            continue
        _add_span(text, start, match.start() if "|" in match.group() else match.end(), spans)
        start = match.end()
    _add_span(text, start, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Add text[start:end] as sentences, cut at a clause break or space every MAX_SENTENCE
    characters: a text without full stops must not become one huge sentence."""
    while end - start > MAX_SENTENCE:
        window = text[start + MAX_SENTENCE // 2 : start + MAX_SENTENCE]
        cut = max(window.rfind("; "), window.rfind(", "), window.rfind("\n"))
        if cut < 0:
            cut = window.rfind(" ")
        cut = start + MAX_SENTENCE // 2 + cut + 1 if cut >= 0 else start + MAX_SENTENCE
        _add_span(text, start, cut, spans)
        start = cut
    a, b = _strip_span(text, start, end)
    if a < b:
        spans.append((a, b))


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    """Whether the punctuation `match` ends a sentence: not after "Mr.", nor after "U.S." or
    "Inc." unless a word that opens sentences ("The", "He") follows."""
    following = _WORD_AFTER.match(text, match.end())
    if following is None:
        return True
    next_word = following.group(1)
    if not (next_word[0].isupper() or next_word[0].isdigit()):
        return False
    if match.group()[0] != "." or match.group().startswith(".."):
        return True
    before = text[max(0, match.start() - 40) : match.start()].split()
    word = before[-1].lstrip("\"'“‘([") if before else ""
    low = word.casefold()
    starter = next_word.rstrip(".") in lx.STARTERS
    if low in lx.NEVER_SPLIT:
        return False
    if len(word) == 1 and word.isupper():
        return starter
    if low in lx.ABBREVIATIONS or "." in word:
        return starter
    return True


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace collapsed; "Mr.", "U.S." or "e.g." end none."""
    return [" ".join(text[a:b].split()) for a, b in _sentence_spans(text)]


@dataclass
class _Sentence:
    text: str  # the whole document
    start: int
    end: int
    toks: list[str]
    starts: list[int]
    ends: list[int]
    lows: list[str]
    heading: bool = False  # a title, table cell or label: capitals say nothing

    def glued(self, i: int) -> bool:
        """Token i touches token i-1 (no space between)."""
        return i > 0 and self.starts[i] == self.ends[i - 1]

    def span(self, i: int, j: int) -> str:
        return self.text[self.starts[i] : self.ends[j - 1]]

    def description(self) -> str:
        text = " ".join(self.text[self.start : self.end].split())
        return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def _tokenize(text: str, start: int, end: int) -> _Sentence:
    matches = list(_TOKEN.finditer(text, start, end))
    toks = [m.group() for m in matches]
    starts = [m.start() for m in matches]
    ends = [m.end() for m in matches]
    return _Sentence(text, start, end, toks, starts, ends, [t.casefold() for t in toks])


# --- entities ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Mention:
    start: int  # token indexes in the sentence, end exclusive
    end: int
    name: str
    type: str
    score: int  # how sure the type is: 0 default .. 3 gazetteer, suffix or honorific
    prep: str | None = None  # the preposition it is the object of, if any
    modifier: bool = False  # "London" in "London-based": describes the next name
    nested: bool = False  # "Tanzania" in "Gombe Stream National Park, Tanzania"
    key: str = ""


_Triple = tuple[_Mention, str, _Mention]


@dataclass
class _Document:
    mid_caps: set[str] = field(default_factory=set)  # words written capitalised mid-sentence
    lowers: set[str] = field(default_factory=set)  # words written in lower case
    last_person: _Mention | None = None  # of the last two sentences, for "he" and "she"
    last_org: _Mention | None = None  # for "it" and "the company"
    person_age: int = 0  # sentences since last_person was named
    org_age: int = 0
    carried: list[_Mention] = field(default_factory=list)  # resolved in this sentence
    types: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (score, type)
    surnames: set[str] = field(default_factory=set)  # last words of persons' names


def _is_cap(tok: str) -> bool:
    c = tok[0]
    if c.isupper():
        return tok not in ("I", "A") or len(tok) > 1
    # iPhone, eBay: a lower-case letter then capitals
    return c.islower() and len(tok) > 2 and tok[1].isupper() and tok.isalnum()


def _is_acronym(tok: str) -> bool:
    letters = tok.replace(".", "").replace("&", "")
    return len(letters) >= 2 and letters.isupper() and letters.isalpha()


def _common(low: str, doc: _Document) -> bool:
    """A lower-case word of the language rather than a name, seen at a sentence start."""
    if low in lx.LOCATIONS or low in lx.ORGANIZATIONS or low in lx.GIVEN_NAMES:
        return False
    if low in lx.COMMON or low in lx.FUNCTION or low in _PAST_OF or low in doc.lowers:
        return True
    if low.endswith("s") and (low[:-1] in lx.COMMON or low[:-2] in lx.COMMON):
        return True
    return len(low) > 4 and low.endswith(lx.WORD_ENDINGS)


def _is_year(s: _Sentence, i: int) -> bool:
    tok = s.toks[i]
    if len(tok) != 4 or not tok.isdigit() or not 1000 <= int(tok) <= 2099:
        return False
    prev = s.lows[i - 1] if i > 0 else ""
    nxt = s.lows[i + 1] if i + 1 < len(s.toks) else ""
    if prev in ("$", "€", "£", "¥", "#", "no.", "number", "page", "flight", "model", "version"):
        return False
    if nxt in ("%", "percent") or nxt in lx.UNITS:
        return False
    if prev in lx.DATE_PREPS or prev == "," or prev in lx.MONTHS:
        return True
    following = s.toks[i + 1] if i + 1 < len(s.toks) else ""
    return not (following.islower() and nxt.endswith("s") and nxt not in lx.FUNCTION)


def _day(tok: str) -> bool:
    digits = tok[:-2] if tok[-2:] in ("st", "nd", "rd", "th") else tok
    return digits.isdigit() and 1 <= int(digits) <= 31 and len(digits) <= 2


def _date_end(s: _Sentence, i: int) -> int:
    """End of a date starting at token i, or i when none starts there."""
    toks, lows, n = s.toks, s.lows, len(s.toks)
    tok = toks[i]
    low = lows[i].rstrip(".")
    if low in lx.MONTHS and tok[0].isupper():
        j = i + 1
        if j < n and _day(toks[j]):
            j += 1
            if j + 1 < n and toks[j] == "," and _is_year(s, j + 1):
                j += 2
            elif j < n and _is_year(s, j):
                j += 1
        elif j < n and _is_year(s, j):
            j += 1
        if j > i + 1:
            return j
        prev = lows[i - 1] if i > 0 else ""
        return i + 1 if prev in lx.DATE_PREPS and prev not in ("and", "or", "of") else i
    if tok[0].isdigit():
        if _day(tok) and i + 1 < n and lows[i + 1].rstrip(".") in lx.MONTHS:
            j = i + 2
            return j + 1 if j < n and _is_year(s, j) else j
        if _is_year(s, i):
            j = i + 1
            if j + 3 < n and toks[j] == "-" and s.glued(j) and _day(toks[j + 1]):
                return j + 4 if toks[j + 2] == "-" and _day(toks[j + 3]) else j + 2
            return j + 1 if j < n and toks[j] in lx.ERAS else j
        if tok.isdigit() and len(tok) <= 3 and i + 1 < n and toks[i + 1] in lx.ERAS:
            return i + 2
        if len(tok) == 5 and tok.endswith("0s") and tok[:4].isdigit():
            return i + 1
        if tok[-2:] in ("st", "nd", "rd", "th") and i + 1 < n:
            return i + 2 if lows[i + 1] in ("century", "centuries", "millennium") else i
        return i
    if low in lx.ORDINALS and i + 1 < n and lows[i + 1] in ("century", "millennium"):
        return i + 2
    return i


def _name_end(s: _Sentence, i: int) -> int:
    """End of the capitalised name starting at token i (connectors, hyphens, numerals)."""
    toks, lows, n = s.toks, s.lows, min(len(s.toks), i + MAX_NAME_TOKENS)
    j = i + 1
    while j < n:
        tok = toks[j]
        if tok in ("-", "–") and s.glued(j) and j + 1 < n and s.glued(j + 1):
            if _is_cap(toks[j + 1]) or toks[j + 1].isdigit():
                j += 2
                continue
            break
        if lows[j] in lx.MONTHS and _date_end(s, j) > j:
            break
        if tok == "I":
            if j + 1 < n and (lows[j + 1] in _PAST_OF or lows[j + 1] in lx.AUX):
                break  # "... that Smith I met": the pronoun, not "Mark I computer"
            j += 1
            continue
        if _is_cap(tok) and lows[j] not in lx.DAYS:
            j += 1
            continue
        if tok.isdigit() and len(tok) <= 3 and not (j + 1 < n and toks[j + 1] in "%–-:/.,"):
            j += 1  # Apollo 11, Windows 95
            continue
        if tok in ("'s", "’s") and j + 1 < n and _is_cap(toks[j + 1]) and j == i + 1:
            low = lows[i]
            if low in lx.COMMON and low not in lx.LOCATIONS and low not in lx.ORGANIZATIONS:
                j += 2  # "World's Fair", "People's Republic"
                continue
        if tok == "," and j + 1 < n and toks[j + 1] == "D.C.":
            j += 2  # Washington, D.C.
            continue
        low = lows[j]
        nxt = j + 1
        if low == "of" and nxt < n and lows[nxt] == "the":
            nxt += 1
        if nxt < n and _is_cap(toks[nxt]) and lows[nxt] not in lx.MONTHS:
            if low in lx.CONNECTORS or tok == "&":
                if low == "of" and lows[j - 1].rstrip(".") in lx.TITLES:
                    break  # "Chancellor of Germany": a title, then a name
                j = nxt
                continue
            if low in ("and", "for") and _joins(s, i, j, nxt):
                j = nxt
                continue
        break
    return j


def _joins(s: _Sentence, i: int, j: int, k: int) -> bool:
    """Whether "and"/"for" at j belongs to one organisation's name ("Food and Drug
    Administration", "Centers for Disease Control")."""
    left = {w.rstrip(".") for w in s.lows[i:j]}
    if s.lows[j] == "for":
        return bool(left & lx.ORG_HEADS)
    end = k
    while end < len(s.toks) and _is_cap(s.toks[end]):
        end += 1
    last = s.lows[end - 1]
    left_name = " ".join(s.lows[i:j])
    return (
        last in lx.ORG_SUFFIX
        and not left & lx.ORG_SUFFIX
        and left_name not in lx.ORGANIZATIONS
        and left_name not in lx.LOCATIONS
    )


def _quoted_titles(s: _Sentence) -> list[_Mention]:
    """ "I Have a Dream": a short quotation in title case is the name of a work."""
    found: list[_Mention] = []
    toks, n = s.toks, len(s.toks)
    if '"' not in toks and "“" not in toks:
        return found
    i = 0
    while i < n:
        if toks[i] in ('"', "“") and i + 1 < n:
            j = i + 1
            while j < n and j - i <= 10 and toks[j] not in ('"', "”"):
                j += 1
            words = [t for t in toks[i + 1 : j] if t[0].isalpha()]
            if (
                j < n
                and toks[j] in ('"', "”")
                and len(words) >= 2
                and toks[i + 1][0].isupper()
                and all(
                    w[0].isupper() or w in lx.PREPS or w in lx.DETS or w in lx.CONJ for w in words
                )
            ):
                found.append(_Mention(i + 1, j, s.span(i + 1, j), CONCEPT, 3))
                i = j
        i += 1
    return found


def _find_mentions(s: _Sentence, doc: _Document) -> tuple[list[_Mention], list[_Triple]]:
    """The sentence's names and dates in order, and (person, role, organisation) triples
    found inside names ("Intel CEO Pat Gelsinger")."""
    toks, lows, n = s.toks, s.lows, len(s.toks)
    mentions = _quoted_titles(s)
    taken = {k for m in mentions for k in range(m.start - 1, m.end + 1)}
    roles: list[_Triple] = []
    heading = s.heading
    shouting = heading and _is_shouting(toks)
    initial = 0
    while initial < n and not toks[initial][0].isalnum():
        initial += 1
    done = 0
    candidates = [
        i
        for i, t in enumerate(toks)
        if not t[0].islower() or t in lx.ORDINALS or (len(t) > 2 and t[1].isupper())
    ]
    for i in candidates:
        tok = toks[i]
        if i < done or i in taken or not tok[0].isalnum():
            continue
        if tok[0].isdigit() or lows[i] in lx.MONTHS or lows[i] in lx.ORDINALS:
            end = _date_end(s, i)
            if end > i:
                mentions.append(_Mention(i, end, s.span(i, end), DATE, 3))
                done = end
                continue
        if not _is_cap(tok):
            continue
        end = _name_end(s, i)
        if heading:
            # Title Case: every word is capitalised, so each one is judged on its own.
            k = i
            for t in range(i, end + 1):
                low = lows[t] if t < end else ""
                if t == end or not _name_evidence(toks[t], low, doc, shouting):
                    if t > k:
                        mentions.extend(_name_mentions(s, doc, k, t, False, roles))
                    k = t + 1
        else:
            # after a table bar, a bullet, a quote or a colon a word is capitalised anyway
            before = toks[i - 1] if i > 0 else ""
            first = i == initial or (not before[:1].isalnum() and before not in lx.IN_NAME)
            mentions.extend(_name_mentions(s, doc, i, end, first, roles))
        done = end
    mentions.sort(key=lambda m: m.start)
    for a, b in itertools.pairwise(mentions):
        # "in Kerala and Karnataka": list items are alike
        if a.end < b.start and all(w in (",", "and", "or") for w in lows[a.end : b.start]):
            if b.score == 0 and a.score >= 2:
                b.type, b.score = a.type, 1
            elif a.score == 0 and b.score >= 2:
                a.type, a.score = b.type, 1
    return mentions, roles


def _name_evidence(tok: str, low: str, doc: _Document, shouting: bool) -> bool:
    """Whether a word of a heading, where every word is capitalised, is (part of) a name."""
    if low in lx.LOCATIONS_AND_ORGANIZATIONS or low in lx.GIVEN_NAMES:
        return True
    if low in lx.FUNCTION or low in lx.COMMON or (shouting and _common(low, doc)):
        return False
    if low in doc.mid_caps:
        return True
    if shouting:
        return len(tok) <= 4  # IBM, NASA: short words in capitals are likely acronyms
    return _is_acronym(tok) or any(c.isupper() for c in tok[1:]) or not tok.isalpha()


def _is_heading(toks: list[str]) -> bool:
    """A title or a Markdown heading: no full stop, (nearly) every word capitalised."""
    if toks[0] == "#" or _is_shouting(toks):
        return True
    if toks[-1] in (".", "!", "?", '"', "”", ";", ","):
        return False
    if ":" in toks:
        toks = toks[len(toks) - toks[::-1].index(":") :]  # "CEO: Arvind Krishna": the value
    content = [w for w in toks if w[0].isalpha() and w.casefold() not in lx.FUNCTION]
    if len(content) == 1 and len(toks) <= 3:
        return True  # a label or a table cell: "Timeout", "Revenue:"
    return len(content) >= 3 and sum(_is_cap(w) for w in content) >= 0.75 * len(content)


def _is_shouting(toks: list[str]) -> bool:
    """A sentence in capitals: the case of its words says nothing."""
    words = [w for w in toks if w[0].isalpha()]
    return len(words) >= 3 and sum(w.isupper() for w in words) >= 0.6 * len(words)


def _name_mentions(
    s: _Sentence, doc: _Document, i: int, j: int, first: bool, roles: list[_Triple]
) -> list[_Mention]:
    toks, lows = s.toks, s.lows
    # A sentence's first word is capitalised anyway: drop it when it is a common word.
    while i < j and (first or lows[i] in lx.FUNCTION):
        low = lows[i]
        first = False
        if i + 1 < j and toks[i + 1] in ("-", "–") and (low in lx.FUNCTION or _common(low, doc)):
            return []  # "Content-Type", "Last-Event-ID": a compound of words
        if low in lx.FUNCTION:
            i += 1
        elif low in lx.ORG_HEADS or low in lx.LOC_HEADS or low in lx.CONCEPT_HEADS:
            break
        elif _common(low, doc) and low not in doc.mid_caps:
            nxt = toks[i + 1] if i + 1 < j else ""
            if nxt and _is_cap(nxt) and not _is_acronym(nxt) and low not in _PAST_OF:
                break  # "General Motors", "New Zealand"; but not "Base URL"
            i += 1
            if i < j and (lows[i] in lx.CONNECTORS or toks[i] == "&"):
                i += 1  # "Shares of Tesla"
            elif i == j:
                return []
    while i < j and not toks[i][0].isalnum():
        i += 1
    end = _date_end(s, i) if i < j else i
    if end > i:
        return [_Mention(i, end, s.span(i, end), DATE, 3)]
    while j > i and (toks[j - 1] in ("-", "–", ",") or lows[j - 1] in lx.CONNECTORS):
        j -= 1
    if i >= j:
        return []
    whole = " ".join(lows[i:j]) if j - i > 1 else lows[i]
    last = lows[j - 1].rstrip(".")
    known = lx.LOCATIONS_AND_ORGANIZATIONS.get(whole)
    suffix = _suffix_type(lows, i, j) if j - i > 1 else None
    person = False
    if known is None and suffix is None:
        k = i
        while k < j and (lows[k].rstrip(".") in lx.TITLES or toks[k] in ("-", "–")):
            k += 1
        if k > i and k < j:
            person = True
            i = k
        elif k == j:
            return []  # a bare title: "President", "Secretary-General"
        else:
            for t in range(i + 1, j - 1):
                if lows[t].rstrip(".") in lx.TITLES and _is_cap(toks[t + 1]):
                    left = _name_mentions(s, doc, i, t, False, roles)
                    u = t
                    while u < j and lows[u].rstrip(".") in lx.TITLES:
                        u += 1
                    right = _name_mentions(s, doc, u, j, False, roles)
                    if left and right:
                        label = "_".join(w.rstrip(".") for w in lows[t:u]) + "_of"
                        roles.append((right[-1], label, left[-1]))
                    return left + right
    if j - i == 1:
        tok, low = toks[i], lows[i]
        if low in lx.DAYS or tok in lx.NON_ENTITY_ACRONYMS or tok == "I":
            return []
        if len(tok) > 3 and tok.isupper() and _common(low, doc):
            return []  # "WARNING", "COMPLETED": a word in capitals
        if j < len(toks) and _demonym(low) and lows[j].isalpha() and lows[j] not in lx.FUNCTION:
            return []  # "Swedish music", "a Ghanaian diplomat"
    name = s.span(i, j)
    if name.endswith(".") and not (last in lx.ABBREVIATIONS or "." in name[:-1]):
        name = name[:-1]
    if person:
        type_, score = PERSON, 3
    elif known or suffix:
        type_, score = known or suffix or CONCEPT, 3
    else:
        type_, score = _type_of(s, i, j)
    mention = _Mention(i, j, name, type_, score)
    if j + 1 < len(toks) and toks[j] in ("-", "–") and s.glued(j) and s.glued(j + 1):
        mention.modifier = lows[j + 1] in ("based", "born", "headquartered", "owned", "made")
    return [mention]


def _demonym(low: str) -> bool:
    if low in lx.DEMONYMS:
        return True
    return low.endswith(lx.DEMONYM_ENDINGS) and low not in lx.GIVEN_NAMES and len(low) > 4


def _suffix_type(lows: list[str], i: int, j: int) -> str | None:
    """The type a multi-word name's head word gives: "X River", "University of X"."""
    last = lows[j - 1].rstrip(".")
    first = lows[i].rstrip(".")
    if last in lx.LOC_SUFFIX:
        return LOCATION
    if last in lx.ORG_SUFFIX or any(w in lx.ORG_HEADS for w in lows[i:j]):
        return ORGANIZATION
    if last in lx.CONCEPT_SUFFIX or first in lx.CONCEPT_HEADS:
        return CONCEPT
    if first in lx.LOC_HEADS:
        return LOCATION
    return None


def _type_of(s: _Sentence, i: int, j: int) -> tuple[str, int]:
    """The type of a name that no gazetteer or suffix decides, and how sure it is."""
    toks, lows = s.toks, s.lows
    if j - i == 1 and _is_acronym(toks[i]):
        if toks[i].replace(".", "") in lx.CONCEPT_ACRONYMS:
            return CONCEPT, 2
        return ORGANIZATION, 2
    cue = _context_type(s, i, j)
    if cue:
        return cue, 2
    first = lows[i]
    if first in lx.GIVEN_NAMES and (j - i > 1 or first not in lx.COMMON):
        return PERSON, 2 if j - i > 1 else 1
    if lows[j - 1] in lx.LOCATIONS and all(
        w in lx.DIRECTIONS or _demonym(w) for w in lows[i : j - 1]
    ):
        return LOCATION, 2  # "Swiss Alps", "Southern California"
    if j - i == 1:
        tok = toks[i]
        if any(c.isupper() for c in tok[1:]) and any(c.islower() for c in tok):
            return ORGANIZATION, 1  # DeepMind, OpenAI
        return CONCEPT, 0
    if (
        j - i <= 3
        and all(t.isalpha() and t[0].isupper() and not t.isupper() for t in toks[i:j])
        and not any(w in lx.COMMON or w.endswith(lx.NOT_NAME_ENDINGS) for w in lows[i:j])
        and not _demonym(first)
    ):
        return PERSON, 1  # two or three capitalised words that are not words: likely a name
    return CONCEPT, 0


def _context_type(s: _Sentence, i: int, j: int) -> str | None:
    """Type from the words around a name: "in X", "the startup X", "X, a physicist", "X, who"."""
    lows, n = s.lows, len(s.toks)
    k = i - 1
    if k >= 0:
        before = lows[k]
        if before in lx.ORG_NOUNS:
            return ORGANIZATION
        if before in lx.PERSON_NOUNS:
            return PERSON
        if before in lx.LOC_NOUNS:
            return LOCATION
        if before == "the":
            k -= 1
        if k >= 0 and lows[k] in ("in", "near", "across", "throughout", "outside", "into"):
            return LOCATION
    if j + 1 < n and lows[j] == ",":
        if lows[j + 1] == "who":
            return PERSON
        if lows[j + 1] in ("a", "an", "the"):
            k = j + 2
            while k < n and k < j + 8 and lows[k] not in (",", ".") and lows[k] not in lx.PREPS:
                k += 1
            head = lows[k - 1]
            if head in lx.PERSON_NOUNS:
                return PERSON
            if head in lx.ORG_NOUNS:
                return ORGANIZATION
            if head in lx.LOC_NOUNS:
                return LOCATION
    return None


# --- relations -----------------------------------------------------------------------------
# Each token gets a class: M mention, V verb, A auxiliary, P preposition, T "to" before a verb,
# D determiner, R adverb, C and/or/but, S subordinator, W relative pronoun, O pronoun,
# X possessive 's, "," comma, ";" other clause punctuation, N anything else.


def _classify(s: _Sentence, at: list[_Mention | None]) -> list[str]:
    toks, lows, n = s.toks, s.lows, len(s.toks)
    cls = ["N"] * n
    prev, prev_low = "^", ""
    after_det = False  # the last word that was not an adverb was a determiner
    for k in range(n):
        m = at[k]
        if m is not None:
            cls[k] = "M"
            if m.modifier and k == m.end - 1 and k + 2 < n:
                cls[k + 1] = cls[k + 2] = "D"  # "-based" describes, it is not a verb
            prev, prev_low, after_det = "M", "", False
            continue
        if cls[k] == "D" and k > 0 and cls[k - 1] in "MD" and toks[k - 1] in ("-", "–"):
            prev, prev_low = "D", lows[k]
            continue
        c = _STATIC_CLASS.get(lows[k]) or _word_class(
            toks[k], lows[k], prev, prev_low, lows[k + 1] if k + 1 < n else ""
        )
        if after_det and c == "V":
            c = "N"  # "the first powered flight"
        after_det = c == "D" or (after_det and (c == "R" or lows[k] in lx.ORDINALS))
        cls[k] = c
        prev, prev_low = c, lows[k]
    for k in range(n - 1):
        # "Apple shares fell": a verb-looking word before a verb is a noun.
        if cls[k] == "V" and lows[k] in _VERBS.base_forms and cls[k + 1] in "VA":
            cls[k] = "N"
    return cls


def _word_class(tok: str, low: str, prev: str, prev_low: str, next_low: str) -> str:
    if not tok[0].isalnum():
        if tok == ",":
            return ","
        if tok in ("'s", "’s"):
            return "X"
        return ";" if tok in ';:()[]—"“”' else "N"
    if low in lx.AUX:
        return "A"
    if low == "to":
        return "T" if next_low in _VERBS.base_forms else "P"
    if low in lx.RELATIVE:
        return "W"
    if low in lx.SUBORD:
        return "S"
    if low in lx.CONJ:
        return "C"
    if low in lx.PRONOUNS:
        return "O"
    if low in lx.PREPS:
        return "P"
    if low in lx.DETS:
        return "D"
    if low in lx.ADVERBS or (low.endswith("ly") and len(low) > 3 and low not in lx.NOT_ADVERB_LY):
        return "R"
    if prev == "D" or not tok.isalpha():
        return "N"
    if low in _VERBS.done_forms or (
        low.endswith("ed") and len(low) > 3 and low not in lx.NOT_VERB_ED
    ):
        return "V"
    if low.endswith("ing") and len(low) > 4 and low not in lx.NOT_VERB_ING:
        # "..., disrupting", "is developing", "after meeting"; but "the building"
        return "V" if prev in "AS,MCRO^" or prev_low in lx.CLAUSE_PREPS else "N"
    if low in _VERBS.base_forms and (prev in "ORATWC" or (prev in "M," and low.endswith("s"))):
        return "V"  # "will build", "to study", "the Rhine flows"; but "the SQLite file"
    return "N"


# Classes that do not depend on the neighbours ("to" does: "to Paris", "to study").
_STATIC_CLASS = {
    **dict.fromkeys(lx.DETS, "D"),
    **dict.fromkeys(lx.ADVERBS, "R"),
    **dict.fromkeys(lx.PREPS - {"to"}, "P"),
    **dict.fromkeys(lx.PRONOUNS, "O"),
    **dict.fromkeys(lx.CONJ, "C"),
    **dict.fromkeys(lx.SUBORD, "S"),
    **dict.fromkeys(lx.RELATIVE, "W"),
    **dict.fromkeys(lx.AUX, "A"),
    ",": ",",
}


@dataclass
class _Phrase:
    start: int
    end: int
    label: str  # "is_born", "moved", "will_build", "is"
    verb: str  # the main verb as written, "" for a bare copula
    passive: bool
    say: bool  # a reporting verb: what follows is a clause, not an object


def _phrase(s: _Sentence, cls: list[str], i: int) -> _Phrase:
    """The verb phrase starting at token i and its label: auxiliaries folded ("has founded" ->
    "founded", "was born" -> "is_born"), the verb in the past tense ("leads" -> "led")."""
    lows, n = s.lows, len(s.toks)
    k = i
    while k < n:
        c = cls[k]
        nxt = cls[k + 1] if k + 1 < n else ""
        if c in "AV" or (c == "R" and nxt in "AVRT" and nxt) or (c == "T" and nxt == "V"):
            k += 1
            continue
        if c == "R" and k > i and lows[k] in ("not", "never"):
            k += 1
            continue
        break
    words = lows[i:k]
    kinds = cls[i:k]
    verbs = [w for w, c in zip(words, kinds, strict=True) if c == "V"]
    aux = [w for w, c in zip(words, kinds, strict=True) if c == "A"]
    negated = "not" in words or "never" in words
    if not verbs:
        head = "is" if any(a in lx.BE for a in aux) else (aux[-1] if aux else "is")
        return _Phrase(i, k, head + ("_not" if negated else ""), "", False, False)
    main = verbs[0]
    modal = next((a for a in aux if a in lx.MODALS), None)
    has_be = any(a in lx.BE for a in aux)
    by_follows = k < n and lows[k] == "by"
    passive = main in _VERBS.participles or (main.endswith("ed") and main not in _PAST_OF)
    passive = passive and (has_be or by_follows)
    if passive:
        head = "is_" + main
    elif modal:
        head = modal + "_" + main
    else:
        head = _PAST_OF.get(main, main)
    for extra in verbs[1:]:
        head += "_to_" + extra
    if negated:
        head = "is_not_" + head[3:] if head.startswith("is_") else "not_" + head
    base = _VERBS.base_of.get(main, main)
    return _Phrase(i, k, head, main, passive, base in lx.SAY or main in lx.SAY)


def _snake(words: list[str]) -> str:
    return _clean_label("_".join(w for w in words if w[:1].isalpha()))


@functools.lru_cache(maxsize=4096)
def _clean_label(label: str) -> str:
    return re.sub(r"[\W_]+", "_", label).strip("_")


def _between(lows: list[str], cls: list[str], a: int, b: int) -> list[str]:
    """Content words from a to b for a label: no determiners, adverbs or "one of"."""
    out: list[str] = []
    for k in range(a, b):
        if cls[k] in "NP" and not (cls[k] == "P" and k > a and lows[k - 1] in lx.QUANTIFIERS):
            out.append(lows[k])
    return out


def _coordinated(s: _Sentence, cls: list[str], a: _Mention, b: _Mention) -> bool:
    """Items of one list: "A and B", "A, B", "A, and B" (a comma alone only joins alikes)."""
    gap = range(a.end, b.start)
    if not gap or not all(cls[k] == "," or s.lows[k] in lx.LIST_JOINTS for k in gap):
        return False
    return a.type == b.type or any(s.lows[k] in ("and", "or") for k in gap)


def _arguments(
    s: _Sentence,
    cls: list[str],
    at: list[_Mention | None],
    phrase: _Phrase,
    stop: int,
) -> list[tuple[_Mention, str | None, list[str], bool]]:
    """The names after a verb phrase, up to the end of its clause: each with its preposition,
    the words before it (for the first) and whether it continues a list."""
    lows = s.lows
    found: list[tuple[_Mention, str | None, list[str], bool]] = []
    k = gap_start = phrase.end
    prep: str | None = None
    prev: _Mention | None = None
    while k < stop:
        m = at[k]
        if m is not None:
            if m.modifier or m.nested:
                k = m.end
                continue
            after = cls[m.end] if m.end < stop else ""
            if prep in lx.CLAUSE_PREPS and after in "VA" and after:
                break  # "... after Peter Higgs predicted it": another clause's subject
            coordinated = prev is not None and _coordinated(s, cls, prev, m)
            found.append((m, prep, _between(lows, cls, gap_start, m.start), coordinated))
            prev, prep = m, None
            k = gap_start = m.end
            continue
        c = cls[k]
        nxt = cls[k + 1] if k + 1 < stop else ""
        if c in "AVSW;" or (c == "T" and nxt == "V"):
            break
        if c == "C" and (nxt in "AV" or (nxt == "R" and k + 2 < stop and cls[k + 2] in "AV")):
            break
        if c == "," and nxt in "SWVAOT,;":
            break
        if c == "P" and not (k > 0 and lows[k - 1] in lx.QUANTIFIERS | {"such"}):
            prep = lows[k]
        k += 1
    return found


def _verb_relations(
    phrase: _Phrase,
    subjects: list[_Mention],
    arguments: list[tuple[_Mention, str | None, list[str], bool]],
    out: list[_Triple],
) -> None:
    base = _VERBS.base_of.get(phrase.verb, phrase.verb)
    obj: _Mention | None = None
    rule = ("subject", phrase.label)
    for index, (m, prep, words, coordinated) in enumerate(arguments):
        if not coordinated or index == 0:
            kind, label = "subject", _snake([phrase.label, prep or ""])
            if index == 0 and words and words[-1] in lx.PREPS and prep and len(words) <= 5:
                if len(words) > 3:  # "sold its personal computer division to": "sold_division_to"
                    words = words[:1] * (words[0] in lx.PREPS) + words[-2:]
                label = _snake([phrase.label, *words])  # "is_capital_of", "filed_for_..._in"
            elif prep is None and obj is None:
                label, obj = phrase.label, m
            if phrase.passive and prep == "by":
                kind, label = "agent", _PAST_OF.get(phrase.verb, phrase.verb)
            elif obj not in (None, m) and base in lx.OBJECT_ATTACH and m.type in (DATE, LOCATION):
                kind = "object"  # "X founded Y in 1998": Y was founded in 1998
            rule = (kind, label)
        kind, label = rule
        if kind == "object" and obj is not None:
            out.append((obj, label, m))
            continue
        for subject in subjects:
            out.append((m, label, subject) if kind == "agent" else (subject, label, m))
    if base in lx.RECIPROCAL and obj is None and len(subjects) > 1:
        out.extend((subjects[0], phrase.label, other) for other in subjects[1:])


def _governing_prep(cls: list[str], lows: list[str], start: int) -> str | None:
    k = start - 1
    while k >= 0 and start - k <= 5 and cls[k] in "DN":
        k -= 1
    return lows[k] if k >= 0 and cls[k] == "P" else None


def _subjects(
    s: _Sentence,
    cls: list[str],
    at: list[_Mention | None],
    mentions: list[_Mention],
    start: int,
    previous: list[_Mention],
    fronted: int,
    doc: _Document,
) -> list[_Mention]:
    """Who does what the verb phrase at `start` says."""
    lows = s.lows
    k = start - 1
    while k >= 0 and cls[k] == "R":
        k -= 1
    if cls[start] == "T" or (k >= 0 and cls[k] == "P" and lows[k] in lx.CLAUSE_PREPS):
        # "moved to Paris to study ...", "... before emptying into ...": the same doer
        if fronted > start:
            return _main_subject(s, cls, mentions, fronted)
        return previous
    k = start - 1
    nouns = 0
    while k >= 0 and start - k <= 40:
        m = at[k]
        if m is not None:
            return _with_coordinated(s, cls, mentions, m)
        c = cls[k]
        if c in "NDPRX" and not (c == "N" and not s.toks[k][0].isalnum()):
            if c == "N":
                nouns += 1
                if nouns == 1 and lows[k] in lx.ORG_NOUNS and k > 0 and lows[k - 1] in lx.THE:
                    return _resolve(doc, mentions, start, ORGANIZATION)  # "the company said"
            k -= 1
            continue
        break
    boundary = cls[k] if k >= 0 else "^"
    if boundary == "O" and lows[k] in ("he", "she", "it"):
        if fronted > start:
            return _main_subject(s, cls, mentions, fronted)
        return _resolve(doc, mentions, start, ORGANIZATION if lows[k] == "it" else PERSON)
    if boundary == "W" and lows[k] in ("who", "which", "that"):
        j = k - 1
        while j >= 0 and cls[j] == ",":
            j -= 1
        antecedent = at[j] if j >= 0 else None
        return [antecedent] if antecedent is not None else []
    if nouns:
        return []  # a subject without a name: "some geographers argue"
    if fronted > start:
        return _main_subject(s, cls, mentions, fronted)
    if boundary in "C,S" and previous:
        return previous
    # "Kofi Annan, a Ghanaian diplomat, served ...": the sentence's subject, an apposition
    # between it and the verb
    first = mentions[0] if mentions and mentions[0].end < start else None
    if (
        first is None
        or first.prep is not None
        or first.type == DATE
        or cls[first.end] != ","
        or any(c in "AV" for c in cls[: first.start])
    ):
        return []
    return [first]


def _resolve(doc: _Document, mentions: list[_Mention], start: int, type_: str) -> list[_Mention]:
    """What "he", "she", "it" or "the company" stands for: the last person or organisation
    named in this sentence or the previous one."""
    found = _recent(mentions, start, type_)
    if found is None:
        found = doc.last_person if type_ == PERSON else doc.last_org
        if found is not None:
            doc.carried.append(found)
    return [found] if found is not None else []


def _with_coordinated(
    s: _Sentence, cls: list[str], mentions: list[_Mention], m: _Mention
) -> list[_Mention]:
    group = [m]
    index = mentions.index(m)
    while index > 0 and _coordinated(s, cls, mentions[index - 1], group[0]):
        index -= 1
        group.insert(0, mentions[index])
    return [g for g in group if not g.nested]


def _recent(mentions: list[_Mention], before: int, type_: str) -> _Mention | None:
    found = [m for m in mentions if m.end <= before and m.type == type_]
    return found[-1] if found else None


def _main_subject(
    s: _Sentence, cls: list[str], mentions: list[_Mention], after: int
) -> list[_Mention]:
    """The subject after a fronted clause: "Born in Ulm, Albert Einstein ..."."""
    index = next((i for i, m in enumerate(mentions) if m.start > after), len(mentions))
    group: list[_Mention] = []
    for m in mentions[index:]:
        if group and not _coordinated(s, cls, group[-1], m):
            break
        if m.prep is not None or m.type == DATE:
            break
        group.append(m)
    return group


def _fronted_end(s: _Sentence, cls: list[str]) -> int:
    """Index of the comma closing a fronted clause ("Born in Ulm, ..."), or -1."""
    first = next((k for k, c in enumerate(cls) if c not in ";"), None)
    if first is None or cls[first] not in "SVP":
        return -1
    for k in range(first, len(cls)):
        if cls[k] == ",":
            return k
        if cls[first] != "S" and cls[k] in "OA":
            return -1  # "During the war she joined ...": a main clause, nothing fronted
    return -1


def _pattern_relations(
    s: _Sentence, cls: list[str], mentions: list[_Mention], doc: _Document, out: list[_Triple]
) -> None:
    """Relations told without a verb: "London-based X", "Park, Tanzania", "X, a senior
    analyst at Y", "Finland's Nokia", "the firm's chief executive Pat Gelsinger"."""
    lows, n = s.lows, len(s.toks)
    for index, a in enumerate(mentions):
        after = mentions[index + 1] if index + 1 < len(mentions) else None
        if a.modifier and after is not None:
            if all(cls[k] in "ND" for k in range(a.end + 2, after.start)):
                verb = lows[a.end + 1]
                label = "is_owned_by" if verb == "owned" else f"is_{verb}_in"
                out.append((after, label, a))
            continue
        if after is None or a.type == DATE:
            continue
        gap = after.start - a.end
        if (
            gap == 1
            and lows[a.end] in (",", "in")
            and a.type in (LOCATION, ORGANIZATION)
            and after.type == LOCATION
            and not _in_list(s, cls, mentions, index)
        ):
            after.nested = True
            out.append((a, "is_located_in", after))
        elif gap == 1 and cls[a.end] == "X":
            if a.type == LOCATION:
                label = "is_based_in" if after.type == ORGANIZATION else "is_from"
                out.append((after, label, a))
            elif a.type == ORGANIZATION and after.type == PERSON:
                out.append((after, "works_for", a))
            else:
                out.append((a, "has", after))
        elif (
            lows[a.end] == ","
            and a.end + 1 < n
            and lows[a.end + 1] in ("a", "an", "the")
            and cls[after.start - 1] in "PD"
            and all(cls[k] in "NDPR" for k in range(a.end + 1, after.start))
        ):
            words = _between(lows, cls, a.end + 1, after.start)
            if words and words[-1] in lx.PREPS and 2 <= len(words) <= 4:
                out.append((a, _snake(words), after))
    for m in mentions:
        if m.type == PERSON:
            _role_relation(s, cls, mentions, m, doc, out)


def _in_list(s: _Sentence, cls: list[str], mentions: list[_Mention], index: int) -> bool:
    """Whether mentions[index] and mentions[index + 1] are items of a list ("A, B and C"),
    rather than a place and where it is ("Coyoacán, Mexico City")."""
    first = index
    while first > 0 and _coordinated(s, cls, mentions[first - 1], mentions[first]):
        first -= 1
    last = index + 1
    while last + 1 < len(mentions) and _coordinated(s, cls, mentions[last], mentions[last + 1]):
        last += 1
    joints = [
        s.lows[k] for i in range(first, last) for k in range(mentions[i].end, mentions[i + 1].start)
    ]
    return "and" in joints or "or" in joints


def _role_relation(
    s: _Sentence,
    cls: list[str],
    mentions: list[_Mention],
    person: _Mention,
    doc: _Document,
    out: list[_Triple],
) -> None:
    lows = s.lows
    k = person.start - 1
    while k >= 0 and cls[k] == "N" and lows[k] in lx.ROLE_WORDS:
        k -= 1
    if k == person.start - 1 or k < 0:
        return
    role = _snake([w for w in lows[k + 1 : person.start] if w not in ("senior", "former")])
    if cls[k] == "X":
        k -= 1
    owner = next((m for m in mentions if m.end == k + 1), None)
    if owner is None and k >= 1 and lows[k] in lx.ORG_NOUNS and lows[k - 1] in ("the", "its"):
        owner = _recent(mentions, k, ORGANIZATION) or doc.last_org
    if owner is not None and owner.type in (ORGANIZATION, LOCATION) and role:
        out.append((person, role + "_of", owner))


def _relations(s: _Sentence, mentions: list[_Mention], doc: _Document) -> list[_Triple]:
    n = len(s.toks)
    at: list[_Mention | None] = [None] * n
    for m in mentions:
        for k in range(m.start, m.end):
            at[k] = m
    cls = _classify(s, at)
    for m in mentions:
        m.prep = _governing_prep(cls, s.lows, m.start)
    out: list[_Triple] = []
    _pattern_relations(s, cls, mentions, doc, out)
    fronted = _fronted_end(s, cls)
    # "In 2014, Google acquired ...": a date or place opening the sentence belongs to its verb.
    adjuncts: list[tuple[_Mention, str | None, list[str], bool]] = []
    if fronted > 0 and not any(c in "AV" for c in cls[:fronted]):
        adjuncts = [
            (m, m.prep, [], False)
            for m in mentions
            if m.end <= fronted and m.type in (DATE, LOCATION) and m.prep in lx.ADJUNCT_PREPS
        ]
    previous: list[_Mention] = []
    done = 0
    starts = [i for i, c in enumerate(cls) if c in "AVT"]
    for i in starts:
        if i < done or (cls[i] == "T" and (i + 1 >= n or cls[i + 1] != "V")):
            continue
        phrase = _phrase(s, cls, i)
        subjects = _subjects(s, cls, at, mentions, i, previous, fronted, doc)
        if subjects:
            previous = subjects
            if not phrase.say:
                arguments = _arguments(s, cls, at, phrase, fronted if i < fronted else n)
                if i > fronted:
                    arguments, adjuncts = arguments + adjuncts, []
                _verb_relations(phrase, subjects, arguments, out)
        done = max(phrase.end, i + 1)
    return out


# --- the extraction ------------------------------------------------------------------------


def extract(text: str, *, cooccurrence: bool = True) -> Extraction:
    """Entities (names, acronyms, dates; typed) and relations labelled by the verb phrase that
    joins them. With `cooccurrence`, an entity that no relation of its sentence reaches is
    linked to its nearest neighbour there by "mentioned_with", so no entity is left isolated."""
    doc = _Document()
    sentences = [_tokenize(text, a, b) for a, b in _sentence_spans(text)]
    doc.lowers.update(w for w in set(_WORD.findall(text)) if w.islower())
    for s in sentences:
        s.heading = bool(s.toks) and _is_heading(s.toks)
        if s.toks and not s.heading:
            toks = s.toks
            doc.mid_caps.update(
                s.lows[k]
                for k in range(2, len(toks))
                if toks[k][0].isupper()
                and not toks[k].isupper()
                and (toks[k - 1][0].isalnum() or toks[k - 1] == ",")
            )
    found: list[tuple[_Sentence, list[_Mention], list[_Triple]]] = []
    for s in sentences:
        mentions, roles = _find_mentions(s, doc)
        _type_as_before(mentions, doc)
        triples = _relations(s, mentions, doc) + roles
        if cooccurrence:
            triples += _cooccurring(mentions, triples)
        found.append((s, mentions, triples))
        # "he", "she", "it" and "the company" reach back two sentences, no further
        named = [*doc.carried, *mentions]
        person = _recent(named, len(s.toks), PERSON)
        org = _recent(named, len(s.toks), ORGANIZATION)
        doc.last_person = person or (doc.last_person if doc.person_age < 1 else None)
        doc.last_org = org or (doc.last_org if doc.org_age < 1 else None)
        doc.person_age = 0 if person else doc.person_age + 1
        doc.org_age = 0 if org else doc.org_age + 1
        doc.carried = []
    return _assemble(found)


def _type_as_before(mentions: list[_Mention], doc: _Document) -> None:
    """A name keeps the surest type it had earlier in the text; a lone word that ended an
    earlier person's name is that person ("Hopper" after "Grace Hopper")."""
    for m in mentions:
        key = m.name.casefold()
        known = doc.types.get(key)
        if known is not None and known[0] > m.score:
            m.score, m.type = known
        elif m.score < 2 and key in doc.surnames:
            m.score, m.type = 2, PERSON
        if known is None or m.score > known[0]:
            doc.types[key] = (m.score, m.type)
        if m.type == PERSON and " " in key:
            doc.surnames.add(key.rsplit(" ", 1)[1])


def _cooccurring(mentions: list[_Mention], triples: list[_Triple]) -> list[_Triple]:
    """One "mentioned_with" link for each name that no relation of its sentence reaches: to the
    nearest other name of the sentence (dates only to names that are not dates)."""
    linked = {id(m) for a, _, b in triples for m in (a, b)}
    out: list[_Triple] = []
    for index, m in enumerate(mentions):
        if id(m) in linked or m.modifier:
            continue
        nearest = None
        for distance in range(1, len(mentions)):
            for other in (index - distance, index + distance):
                if 0 <= other < len(mentions):
                    o = mentions[other]
                    if o.name != m.name and not (m.type == DATE and o.type == DATE):
                        nearest = o
                        break
            if nearest is not None:
                break
        if nearest is not None:
            pair = (m, nearest) if m.start < nearest.start else (nearest, m)
            out.append((pair[0], MENTIONED_WITH, pair[1]))
    return out


def _assemble(found: list[tuple[_Sentence, list[_Mention], list[_Triple]]]) -> Extraction:
    all_mentions = [m for _, mentions, _ in found for m in mentions]
    keys: dict[str, str] = {}
    for m in all_mentions:
        key = keys.get(m.name)
        if key is None:
            key = keys[m.name] = normalize_name(m.name)
        m.key = key
    # "Curie" after "Marie Curie", "Toyota" after "Toyota Motor Corporation": one entity.
    by_last: dict[str, set[str]] = {}
    by_first: dict[str, set[str]] = {}
    types: dict[str, tuple[int, str]] = {}
    for m in all_mentions:
        words = m.key.split()
        if len(words) > 1 and m.type == PERSON:
            by_last.setdefault(words[-1], set()).add(m.key)
        elif len(words) > 1 and m.type == ORGANIZATION:
            by_first.setdefault(words[0], set()).add(m.key)
    for m in all_mentions:
        if " " not in m.key and m.score < 3:
            longer = by_last.get(m.key, set()) | by_first.get(m.key, set())
            if len(longer) == 1:
                m.key = next(iter(longer))
        best = types.get(m.key)
        if best is None or m.score > best[0]:
            types[m.key] = (m.score, m.type)
    entities: dict[str, Entity] = {}
    for s, mentions, _ in found:
        for m in mentions:
            known = entities.get(m.key)
            if known is None or (len(m.name) > len(known.name) and normalize_name(m.name) == m.key):
                description = known.description if known else s.description()
                entities[m.key] = Entity(m.name, types[m.key][1], description)
    relations: dict[tuple[str, str, str], Relation] = {}
    for s, _, triples in found:
        for a, label, b in triples:
            if a.key == b.key or not label:
                continue
            triple = (a.key, b.key, label)
            if triple not in relations:
                source, target = entities[a.key].name, entities[b.key].name
                relations[triple] = Relation(source, target, label, s.description())
    return Extraction(list(entities.values()), list(relations.values()))


# --- summaries -----------------------------------------------------------------------------

_SUMMARY_WORD = re.compile(r"[^\W\d_]{3,}")


def summarize(text: str, max_sentences: int = 3) -> str:
    """An extractive summary: the `max_sentences` sentences that best cover the text's frequent
    words (earlier, mid-length, prose sentences preferred; near-repeats skipped), in order."""
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return " ".join(sentences)
    words = [
        [w for w in _SUMMARY_WORD.findall(sentence.casefold()) if w not in lx.FUNCTION]
        for sentence in sentences
    ]
    counts = Counter(w for ws in words for w in set(ws))
    ranked = []
    for index, (sentence, ws) in enumerate(zip(sentences, words, strict=True)):
        unique = set(ws)
        length = len(sentence.split())
        if len(unique) < 3:
            continue
        score = sum(counts[w] for w in unique) / len(unique) ** 0.7
        score *= 1.0 + 1.0 / (1 + index)  # the opening states the topic
        if not 6 <= length <= 45:
            score *= 0.5
        if any(c in sentence for c in "|`{}<>=_#") or sum(
            c.isalpha() or c.isspace() for c in sentence
        ) < 0.85 * len(sentence):
            score *= 0.3  # code, tables, lists of numbers
        ranked.append((-score, index, unique))
    chosen: list[tuple[int, set[str]]] = []
    for _, index, unique in sorted(ranked, key=lambda r: (r[0], r[1])):
        if all(len(unique & other) < 0.6 * min(len(unique), len(other)) for _, other in chosen):
            chosen.append((index, unique))
        if len(chosen) == max_sentences:
            break
    if not chosen:
        return " ".join(sentences[:max_sentences])
    return " ".join(sentences[index] for index, _ in sorted(chosen, key=lambda c: c[0]))
