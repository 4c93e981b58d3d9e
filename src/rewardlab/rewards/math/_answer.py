"""Final-answer extraction and hedge detection for free-text completions.

These are policy, not parsing: which part of a completion is the answer it
commits to, and whether that answer hedges. Parsing and mathematical equality
are left to math-verify. Every scan here is linear in the input length, so a
megabyte completion costs milliseconds, and every cap is a named constant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

MAX_COMPLETION_CHARS = 4_000_000
"""Completions longer than this are refused (about a million tokens, far beyond
any reasoning trace a model produces; the scans below would still be linear)."""

MAX_ANSWER_CHARS = 1_000
"""A final answer longer than this is not an answer but a dump; parsing it with
sympy could take seconds, so it scores 0 with a reason."""

MAX_ANSWER_NESTING = 40
"""Bracket nesting deeper than this in a final answer is refused: latex2sympy and
sympy recurse per level and slow down sharply long before Python's recursion limit."""

SHORT_COMPLETION_CHARS = 300
"""With no box, answer tag or answer line, a one-line completion at most this long
is read whole as the answer (``"3/4"``, ``"The sum is $x+1$"``: prose around a
single math block or a single number is dropped); longer text must commit
through an anchor or a concluding sentence."""

MAX_LINE_ANSWER_CHARS = 200
"""An answer line (``The answer is X``) keeps at most this much of X; past it the
line is prose, not an answer."""

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_THINK_OPEN = re.compile(r"<think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think\s*>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer\s*>(.*?)</answer\s*>", re.IGNORECASE | re.DOTALL)

# Answer lines, most specific first; the one that occurs last in the text wins.
_ANSWER_LINES = [
    re.compile(r"^[ \t]*#{4}[ \t]*(?P<a>[^\n]+)", re.MULTILINE),
    re.compile(r"final[ \t]+answer[ \t]*(?:is|was|=|:)?[ \t]*:?[ \t]*(?P<a>[^\n]+)", re.IGNORECASE),
    re.compile(r"\bthe[ \t]+(?:correct[ \t]+)?answer[ \t]+is[ \t]*:?[ \t]*(?P<a>[^\n]+)", re.IGNORECASE),
    re.compile(r"^[ \t]*\**answer\**[ \t]*(?:[:：]|(?=[$\\]))[ \t]*(?P<a>[^\n]+)", re.IGNORECASE | re.MULTILINE),
    re.compile(r"^[ \t]*A[ \t]*:[ \t]*(?P<a>[^\n]+)", re.MULTILINE),
]

# Text that talks to the grader instead of answering. Phrased narrowly: worked
# solutions say "this is correct" to themselves, never "mark this as correct".
_GRADER_ADDRESS = re.compile(
    r"(?:\b(?:mark|grade|score|count|treat|consider|evaluate)\s+(?:this|it|my\s+answer|the\s+answer|the\s+response)"
    r"\s+(?:as\s+)?(?:correct|right|true|full)"
    r"|\bignore\s+(?:the|any|all|previous|prior|above)\s+(?:\w+\s+){0,2}"
    r"(?:reference|instructions?|answers?|ground\s*truth|rubric|grader)"
    r"|\b(?:dear|attention|note\s+to\s+(?:the)?)\s*(?:grader|judge|evaluator|verifier|checker)"
    r"|\b(?:grader|judge|evaluator|verifier|checker)\s*[:,]\s*(?:please|this|the|mark|give|ignore)"
    r"|\bgive\s+(?:me|this|it)\s+(?:full|maximum|max|perfect)\s+(?:credit|score|marks|points|reward)"
    r"|\bthe\s+reference\s+(?:answer\s+|solution\s+)?(?:is|was)\s+(?:wrong|incorrect|mistaken)"
    r"|\b(?:output|return|respond\s+with)\s+(?:true|yes|correct)\b(?:\s+(?:for|to)\s+this)?"
    r"|\bthis\s+answer\s+(?:must|should)\s+be\s+(?:marked|graded|scored|judged)\s+(?:as\s+)?correct)",
    re.IGNORECASE,
)

_NUMBER = r"[-+−]?\$?\s?(?:\d+(?:[.,]\d+)*|\.\d+)\s?(?:\\?%)?"
_BARE_NUMBERS = re.compile(rf"^\s*{_NUMBER}(?:\s+{_NUMBER})+\s*$")
_THOUSANDS_SPACE = re.compile(r"^\s*[-+]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:\.\d+)?\s*$")
_CONNECTIVE = re.compile(
    r"^(?:\s|\$|,|;|\.|\\quad|\\qquad|\\,|\\;|\\text\s*\{\s*(?:and|or)?\s*\}|\band\b|\bor\b|&|\\\\|\\\]|\\\[|\\\(|\\\))*$",
    re.IGNORECASE,
)
_OR_WORDS = re.compile(r"\\text\s*\{\s*(?:or|and)\s*\}|\bor\b|\band\b|\\lor\b|\\vee\b|\\mathrm\{or\}", re.IGNORECASE)
_PLUS_MINUS = re.compile(r"\\pm\b|±|\\mp\b|∓")
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\q?quad\b|~")


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The answer a completion commits to.

    Attributes:
        text: The answer (box content, tag content, or answer-line text), or
            ``None`` when the completion commits to nothing.
        source: ``boxed``, ``answer_tag``, ``answer_line``, ``whole``,
            ``conclusion`` (a last sentence ``Therefore, ... is X.``) or ``none``.
        candidates: When several boxes stand together at the end (``\\boxed{1}
            and \\boxed{2}``), each of them; ``text`` then joins them with commas.
        refused: Why the completion was not read (too long), if it was not.
    """

    text: str | None
    source: str
    candidates: tuple[str, ...] = field(default_factory=tuple)
    refused: str = ""


def strip_thinking(text: str) -> str:
    """The part of a completion outside ``<think>...</think>``.

    Text after the last ``</think>`` counts (templates often open ``<think>`` in
    the prompt); an unclosed ``<think>`` hides everything after it.
    """
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


def _balanced(text: str, start: int) -> int | None:
    """Index just past the brace group opening at ``text[start] == '{'``."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def find_boxes(text: str) -> list[tuple[int, int, str]]:
    """Every ``\\boxed{...}`` / ``\\fbox{...}`` as ``(start, end, content)``, in order."""
    found: list[tuple[int, int, str]] = []
    for command in _BOX_COMMANDS:
        pos = text.find(command)
        while pos != -1:
            after = pos + len(command)
            j = after
            while j < len(text) and text[j] in " \t":
                j += 1
            if j < len(text) and text[j] == "{":
                end = _balanced(text, j)
                if end is not None:
                    found.append((pos, end, text[j + 1 : end - 1]))
                    pos = text.find(command, end)
                    continue
            elif j > after and j < len(text):
                # \boxed 5: one token, no braces
                m = re.match(r"[^\s$.,;]+", text[j:])
                if m:
                    found.append((pos, j + m.end(), m.group(0)))
            pos = text.find(command, after)
    found.sort()
    return found


def _last_box_group(text: str, boxes: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The last box, with the boxes just before it joined only by connectives.

    ``\\boxed{1} and \\boxed{2}`` is one answer with two candidates; a box
    followed by more reasoning and a later box is superseded by the later one.
    """
    group = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        between = text[prev[1] : group[0][0]]
        if len(between) <= 60 and _CONNECTIVE.match(between):
            group.insert(0, prev)
        else:
            break
    return group


_DISPLAY_OPEN = {"\\[": "\\]", "$$": "$$"}
_IS_TAIL = re.compile(r"(?:\bis|\bare|\bequals|\bbe|'s)\s+(?P<a>(?:(?!\bis\b|\bare\b|'s\b).)+?)\s*$", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-−]?[$€£]?\d[\d,]*(?:\.\d+)?\s?%?(?![\d.])")
_PROSE = re.compile(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}")


def _answer_line(text: str) -> str | None:
    for _ in range(3):  # "Final Answer: The final answer is 7" nests one anchor in another
        best: tuple[int, str] | None = None
        for pattern in _ANSWER_LINES:
            for m in pattern.finditer(text):
                if best is None or m.start("a") > best[0]:
                    best = (m.start("a"), m.group("a"))
        if best is None:
            return None
        start, answer = best
        stripped = answer.strip()
        for left, right in _DISPLAY_OPEN.items():
            # display math opened on the answer line and closed on a later one
            if stripped.startswith(left) and right not in stripped[len(left) :]:
                close = text.find(right, start + answer.find(left) + len(left))
                if close != -1:
                    stripped = text[start + answer.find(left) : close + len(right)]
        inner = _answer_line(stripped) if stripped != text and _has_anchor(stripped) else None
        answer = inner if inner is not None else stripped
        break
    answer = focus_answer(_first_sentence(" ".join(answer.split())))
    if len(answer) > MAX_LINE_ANSWER_CHARS:
        return None
    return answer


_MATH_BLOCK = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)


def focus_answer(answer: str, *, committed: bool = True) -> str:
    """Drop the prose around an answer: ``the largest $n$ is 34`` -> ``34``.

    With prose outside math: the part after the last ``is``/``are`` when that is
    plain math; else a single math block; else a single number. Answers without
    prose are returned as they are. A negated answer (``not 18``) is returned as
    it is, so that it is read as prose, never as its number. ``committed=False``
    (no anchor such as ``Answer:`` led here) keeps the single-number rule to a
    few words, so a spray of tokens ending in a number is not an answer.
    """
    answer = answer.strip().rstrip(" .;:")
    if _PERCENT_WORD.search(answer):
        answer = _PERCENT_WORD.sub("\\%", answer.replace("$", ""))
    outside = _outside_math(answer)
    if not _WORD.search(outside):
        return answer  # \\sqrt 2, 2 \\pi: LaTeX commands are not prose
    tail = _IS_TAIL.search(answer.rstrip(" ."))
    if tail and not _WORD.search(_strip_math(_strip_unit_suffix(tail.group("a")))):
        return tail.group("a").strip()
    if _NEGATION.search(tail.group("a") if tail else outside) or _EITHER_OR.search(outside):
        return answer
    blocks = [next(g for g in m.groups() if g is not None) for m in _MATH_BLOCK.finditer(answer)]
    if len(blocks) == 1 and _PROSE.search(outside):
        return blocks[0].strip()
    scope = tail.group("a") if tail else answer
    if not blocks and (committed or len(_WORD.findall(scope)) <= _MAX_UNANCHORED_WORDS):
        numbers = _NUMBER_TOKEN.findall(scope)
        # exactly one number and no other digits: "Jane started 3 hours ago" -> 3
        if len(numbers) == 1 and len(re.findall(r"\d+(?:[.,]\d+)*", scope)) == 1 and not _GRADE_WORDS.search(scope):
            number = numbers[0].strip()
            unit = re.match(r"\s*([A-Za-z]+)\b", scope[scope.find(number) + len(number) :])
            if unit and unit.group(1).lower() in _UNIT_CANONICAL:
                # keep a stated unit as a \text{} label: math-verify ignores it, a unit check can read it
                return f"{number} \\text{{{unit.group(1)}}}"
            return number
    return answer


_MAX_UNANCHORED_WORDS = 3
_PERCENT_WORD = re.compile(r"\s*\bper\s?cent\b", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|isn't|aren't|never|cannot|can't|neither|nor|except|without|instead|rather|wrong|incorrect|false|"
    r"impossible|unlikely|maybe|perhaps|possibly|probably)\b|\bno\b(?!\.)",
    re.IGNORECASE,
)
_EITHER_OR = re.compile(r"\beither\b.*\bor\b", re.IGNORECASE | re.DOTALL)
_GRADE_WORDS = re.compile(r"\b(?:score|reward|grade|mark|points?|credit|correct|accuracy|confidence)\b", re.IGNORECASE)


_UNIT_NAMES = {
    "meter": ("m", "meter", "meters", "metre", "metres"),
    "centimeter": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "millimeter": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "kilometer": ("km", "kilometer", "kilometers", "kilometre", "kilometres"),
    "inch": ("in", "inch", "inches"),
    "foot": ("ft", "foot", "feet"),
    "yard": ("yd", "yard", "yards"),
    "mile": ("mi", "mile", "miles"),
    "gram": ("g", "gram", "grams"),
    "kilogram": ("kg", "kilogram", "kilograms"),
    "pound": ("lb", "lbs", "pound", "pounds"),
    "ounce": ("oz", "ounce", "ounces"),
    "liter": ("l", "liter", "liters", "litre", "litres"),
    "milliliter": ("ml", "milliliter", "milliliters", "millilitre", "millilitres"),
    "gallon": ("gal", "gallon", "gallons"),
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("min", "mins", "minute", "minutes"),
    "hour": ("h", "hr", "hrs", "hour", "hours"),
    "day": ("day", "days"),
    "week": ("week", "weeks"),
    "month": ("month", "months"),
    "year": ("yr", "yrs", "year", "years"),
    "dollar": ("dollar", "dollars", "usd"),
    "cent": ("cent", "cents"),
    "euro": ("euro", "euros", "eur"),
    "degree": ("degree", "degrees", "deg"),
    "radian": ("rad", "radian", "radians"),
}
_UNIT_CANONICAL = {alias: name for name, aliases in _UNIT_NAMES.items() for alias in aliases}
_TRAILING_UNIT = re.compile(
    r"\d\s*(?:\\(?:text|mathrm|textrm|mbox|operatorname)\s*\{\s*([A-Za-z]+)\.?\s*\}|([A-Za-z]+)\.?)\s*$"
)


def trailing_unit(text: str) -> str | None:
    """The canonical name of a known unit right after the last number (``5 feet`` -> ``foot``), if any."""
    m = _TRAILING_UNIT.search(text.strip())
    if m is None:
        return None
    return _UNIT_CANONICAL.get((m.group(1) or m.group(2)).lower())


_WORD = re.compile(r"[A-Za-z]{2,}")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_UNIT_SUFFIX = re.compile(r"(?<=\d)\s*(?:[€£¥]|[a-zA-Zµ]{1,3}[²³]?)\s*$")


def _strip_unit_suffix(text: str) -> str:
    return _UNIT_SUFFIX.sub("", text.strip())


def _is_latex_expression(text: str) -> bool:
    """No words but LaTeX commands, environment names and \\text{} labels: ``\\frac{\\pi}{2}``, ``5 \\text{ cm}``."""
    bare = re.sub(r"\\(?:text\w*|math\w*|operatorname|begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+", " ", _strip_math(text))
    return not _WORD.search(bare)


_CANDIDATE = re.compile(r"\x00|(?<![\w.])[-−+]?[$€£]?\d[\d,]*(?:\.\d+)?%?(?![\w.])")


def _scattered_values(text: str) -> bool:
    """Two or more values with no anchor that are neither one expression nor one list.

    ``1 000``, ``1 1/2``, ``2 + 3`` and ``$\\frac{3}{4}$`` are one value; ``2, 3, 5``
    is one list (a hedge or a set, decided against the reference); ``the 29 15
    problem $12$ 9`` is a spray. A single ``... is X`` clause commits to X.
    """
    if _THOUSANDS_SPACE.match(text) or is_mixed_number(text):
        return False
    marked = _MATH_SPAN.sub(" \x00 ", text)
    if len(_CANDIDATE.findall(marked)) < 2:
        return False
    tail = _IS_TAIL.search(text.rstrip(" ."))
    if tail and len(_CANDIDATE.findall(_MATH_SPAN.sub(" \x00 ", tail.group("a")))) == 1:
        return False
    if _WORD.search(_outside_math(text)):
        return True
    bare = marked.strip()
    if re.fullmatch(r"[\s(\[{]*(?:\S+\s*[,;]\s*)+\S+[\s)\]}]*", bare):
        return False  # one list
    # no words: an expression or equations ("x = 2, y = 3", "1 1/2") unless it is a bare run of values
    return len(bare.split()) > 1 and not _OPERATOR_BETWEEN.search(bare) and not re.search(r"[=<>^\\]", bare)


_OPERATOR_BETWEEN = re.compile(r"\d\s*(?:[-+*/^=×÷]|\\(?:frac|cdot|times|div))\s*[\d(\\]|\d\s+\d+\s*/\s*\d")


def _few_plain_words(text: str) -> bool:
    """A short word answer ("odd", "Monday") that neither negates nor talks about its grade."""
    outside = _strip_math(text)
    return (
        len(_WORD.findall(outside)) <= _MAX_UNANCHORED_WORDS
        and not _NEGATION.search(outside)
        and not _GRADE_WORDS.search(outside)
    )


def _has_anchor(text: str) -> bool:
    return any(p.search(text) for p in _ANSWER_LINES)


_MATH_SPAN = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
"""Inline or display math, delimiters included (empty spans too)."""
_TEXT_LABEL = re.compile(r"\\text\w*\s*\{[^{}]*\}")


def _strip_math(text: str) -> str:
    """The text with math spans and ``\\text{}`` labels blanked out."""
    return _TEXT_LABEL.sub(" ", _MATH_SPAN.sub(" ", text))


def _outside_math(text: str) -> str:
    """Prose only: math spans, ``\\text{}`` labels and LaTeX commands blanked out."""
    return _LATEX_COMMAND.sub(" ", _strip_math(text))


_FINAL_ANSWER_LINE = re.compile(r"final[ \t]+answer", re.IGNORECASE)


def extract_final_answer(completion: str, *, several_values: bool = False) -> FinalAnswer:
    """Find the final answer a completion commits to.

    Order: the last ``\\boxed{}``/``\\fbox{}`` outside ``<think>`` blocks; else
    the last ``<answer>...</answer>``; else the last answer line (``Final
    Answer: X``, ``The answer is X``, ``Answer: X``, ``A: X``, ``#### X``); else
    a short completion read whole. An earlier box followed by more reasoning is
    superseded by the last one, and a ``Final Answer:`` line after the last box
    supersedes the box.

    With ``several_values`` (the reference is a set, tuple or list), all boxes
    on the last box's line form the answer (``\\boxed{(3,3)} for part (a) and
    \\boxed{(1,1)}``).

    Example:
        >>> extract_final_answer("First \\\\boxed{3}. No, wait: \\\\boxed{4}.").text
        '4'
    """
    if len(completion) > MAX_COMPLETION_CHARS:
        return FinalAnswer(None, "none", refused=f"completion longer than {MAX_COMPLETION_CHARS:,} characters")
    visible = _strip_chat_tail(strip_thinking(completion))
    boxes = find_boxes(visible)
    if boxes:
        final_line = [m for m in _FINAL_ANSWER_LINE.finditer(visible) if m.start() >= boxes[-1][1]]
        if final_line:
            line = _answer_line(visible[final_line[-1].start() :])
            if line is not None:
                return FinalAnswer(clean_answer(line), "answer_line")
        group = _last_box_group(visible, boxes)
        if several_values:
            line_start = visible.rfind("\n", 0, boxes[-1][0]) + 1
            group = [b for b in boxes if b[0] >= line_start]
        contents = tuple(b[2].strip() for b in group)
        if len(contents) == 1:
            return FinalAnswer(contents[0], "boxed")
        return FinalAnswer(", ".join(contents), "boxed", candidates=contents)
    tags = _ANSWER_TAG.findall(visible)
    if tags:
        inner = tags[-1]
        inner_line = _answer_line(inner)
        return FinalAnswer((inner_line if inner_line is not None else inner).strip(), "answer_tag")
    line = _answer_line(visible)
    if line is not None:
        return FinalAnswer(clean_answer(line), "answer_line")
    stripped = visible.strip()
    if stripped and len(stripped) <= SHORT_COMPLETION_CHARS and "\n" in stripped:
        # a short answer under a heading ("## Solution\n\nThe product is **42**."): its last line
        stripped = stripped.rsplit("\n", 1)[-1].strip()
    if is_mixed_number(clean_answer(stripped)):
        return FinalAnswer(clean_answer(stripped), "whole")  # one value, its percent word included
    if stripped and len(stripped) <= SHORT_COMPLETION_CHARS:
        whole = clean_answer(focus_answer(stripped, committed=False))
        if _scattered_values(stripped):
            # several values strewn through the text and no anchor: nothing is committed to
            return FinalAnswer(None, "none")
        if _is_latex_expression(whole) or _few_plain_words(stripped):
            return FinalAnswer(whole, "whole")
    conclusion = _concluding_statement(visible)
    if conclusion is not None:
        return FinalAnswer(clean_answer(conclusion), "conclusion")
    return FinalAnswer(None, "none")


_CHAT_TAIL = re.compile(r"(?:<\|[a-z_]+\|>\s*\w*\s*)+$|\bI hope it is correct\.?\s*$", re.IGNORECASE)
_CONCLUSION_START = re.compile(
    r"(?:^|[.!?$]\s+)(?P<w>therefore|thus|hence|so|in conclusion|finally|consequently)\b,?", re.IGNORECASE
)


def _strip_chat_tail(text: str) -> str:
    """Drop trailing chat-template tokens and sign-offs (``I hope it is correct.``)."""
    head, tail = text[:-2000], text[-2000:].rstrip()
    for _ in range(3):
        trimmed = _CHAT_TAIL.sub("", tail).rstrip()
        if trimmed == tail:
            break
        tail = trimmed
    return head + tail


def _first_sentence(text: str) -> str:
    """Cut an answer line at the end of its first sentence, ignoring periods inside math."""
    in_math = False
    for i, ch in enumerate(text):
        if ch == "$":
            in_math = not in_math
        elif ch == "." and not in_math and i + 2 < len(text) and text[i + 1] == " " and text[i + 2].isupper():
            return text[:i]
    return text


def _concluding_statement(text: str) -> str | None:
    """``Therefore, ... is X.`` as the last sentence: X is the committed answer."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    starts = [m for m in _CONCLUSION_START.finditer(last) if not _inside_math(last, m.start("w"))]
    if not starts:
        return None
    body = last[starts[-1].end() :].strip().rstrip(".!").strip()
    if re.search(r"[.!?]\s+[A-Z]", _strip_math(body)):
        return None  # the conclusion is not the last sentence
    answer = focus_answer(body)
    if answer == body and _PROSE.search(_strip_math(answer)):
        return None
    return answer if 0 < len(answer) <= MAX_LINE_ANSWER_CHARS else None


def _inside_math(text: str, index: int) -> bool:
    return text.count("$", 0, index) % 2 == 1


def clean_answer(answer: str) -> str:
    """Strip math delimiters, trailing punctuation and emphasis around an answer."""
    text = answer.strip().strip("*_ ").rstrip(" .;:")
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
            break
    text = text.rstrip(" .;:")
    if text.endswith("$") and text.count("$") % 2 == 1:
        text = text[:-1].rstrip(" .")
    return text


def _top_level_split(text: str) -> list[str]:
    """Split on commas/semicolons outside any bracket; keeps thousands separators whole."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch in ",;" and depth == 0:
            # 1,000 and 2,125: a comma between digit groups of three is a thousands separator.
            tail = text[i + 1 : i + 4]
            glued = ch == "," and current and current[-1][-1:].isdigit() and text[i + 1 : i + 2].isdigit()
            thousands = glued and len(tail) == 3 and tail.isdigit() and not text[i + 4 : i + 5].isdigit()
            decimal_comma = (
                glued
                and re.match(r"\d{2}(?!\d)", text[i + 1 :]) is not None
                and "," not in text[i + 1 :]
                and not any("," in c for c in current)
            )
            if thousands or decimal_comma:
                current.append(ch)
                i += 1
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_INEQUALITY = re.compile(r"<|>|\\le\b|\\ge\b|\\leq\b|\\geq\b|\\lt\b|\\gt\b|\\in\b|≤|≥")


def is_multi_valued(text: str) -> bool:
    """Whether an answer lists several values (a set, tuple, list, interval, matrix, "a or b", ±)."""
    body = re.sub(r"\\{2,}(?=[A-Za-z])", "\\\\", text)
    body = re.sub(r",\s*\\!\s*|\{,\}", ",", body)
    body = _LATEX_SPACING.sub(" ", body).strip()
    if _INEQUALITY.search(body):
        return True
    if _PLUS_MINUS.search(body) or _OR_WORDS.search(_strip_text_blocks_keep_connectives(body)):
        return True
    if len(_top_level_split(body)) > 1:
        return True
    inner = _unwrap_brackets(body)
    if inner != body and len(_top_level_split(inner)) > 1:
        return True
    if "\\begin" in body and ("&" in body or "\\\\" in body):
        return True  # a matrix or array
    return bool(_BARE_NUMBERS.match(body)) and not _THOUSANDS_SPACE.match(body)


def _unwrap_brackets(text: str) -> str:
    body = re.sub(r"\\(?:left|right|big|Big|bigl|bigr)\s*", "", text).strip().rstrip(".")
    for left, right in (("\\{", "\\}"), ("(", ")"), ("[", "]"), ("{", "}"), ("\\langle", "\\rangle")):
        if body.startswith(left) and body.endswith(right):
            return body[len(left) : len(body) - len(right)].strip()
    if body[:1] in "([" and body[-1:] in ")]":
        return body[1:-1].strip()  # half-open intervals
    return body


def _strip_text_blocks_keep_connectives(text: str) -> str:
    # \text{cm and more} is a unit label, not a list; \text{ or } is a connective.
    return re.sub(r"\\text\s*\{(?!\s*(?:or|and)\s*\})[^{}]*\}", " ", text)


def nesting_depth(text: str) -> int:
    depth = best = 0
    for ch in text:
        if ch in "({[":
            depth += 1
            best = max(best, depth)
        elif ch in ")}]":
            depth = max(0, depth - 1)
    return best


_TEXT_BLOCK = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm)\s*\{([^{}]*)\}")
_UNEVALUATED = re.compile(r"\d\s*(?:[+*×^]|\\times|\\cdot|-(?=\s*\d))\s*[\d({]")
MIN_ECHO_CHARS = 12
"""A copied stretch of the prompt at least this long (whitespace and $ ignored) is an echo."""


def _squash(text: str) -> str:
    return re.sub(r"[\s$]+", "", text.lower())


def _echoes(answer: str, visible: str, prompt: str) -> bool:
    """The completion copies the question instead of answering it.

    Either the whole visible completion is a stretch of the prompt, or the answer
    is a long stretch of it, or the answer is the prompt's own unevaluated
    arithmetic (``What is 15 + 27?`` answered ``15 + 27``).
    """
    p = _squash(prompt)
    v, a = _squash(visible), _squash(answer)
    if len(v) >= MIN_ECHO_CHARS and v in p:
        return True
    if len(a) >= 20 and a in p:
        return True
    return bool(_UNEVALUATED.search(answer)) and len(a) >= 3 and a in p


def refusal_reason(answer: FinalAnswer) -> str | None:
    """Why an answer is too large to parse safely (length or nesting caps), or ``None``."""
    if answer.refused:
        return answer.refused
    text = answer.text or ""
    if len(text) > MAX_ANSWER_CHARS:
        return f"answer longer than {MAX_ANSWER_CHARS} characters"
    if nesting_depth(text) > MAX_ANSWER_NESTING:
        return f"answer nested deeper than {MAX_ANSWER_NESTING} levels"
    return None


def hedge_reason(answer: FinalAnswer, *, reference_multi: bool, prompt: str = "", completion: str = "") -> str | None:
    """Why an extracted answer does not commit to one value, or ``None`` if it does.

    Hedges: several boxed candidates or a listed/"or"/± answer when the
    reference is a single value; a run of bare numbers; an empty answer; an echo
    of the prompt; text addressing the grader anywhere outside the reasoning.
    """
    visible = strip_thinking(completion) if completion else ""
    if visible and _GRADER_ADDRESS.search(visible):
        return "addresses the grader"
    text = answer.text
    if text is None:
        return None
    if not text.strip() or text.strip() in ("{}", "\\{\\}", "\\text{}", "$$"):
        return "empty answer"
    if _NEGATION.search(_strip_math(text)) or _EITHER_OR.search(_strip_math(text)):
        return "negated or uncertain answer"
    labels = _TEXT_BLOCK.findall(text)
    if len(labels) == 1 and _TEXT_BLOCK.fullmatch(text.strip()):
        labels = []  # the whole answer is one \text{} ("\text{5}", "\text{odd}"): nothing is hidden
    for label in labels:
        # math-verify drops \text{} labels: candidates or doubt hidden in one must not vanish
        if re.search(r"\d", label) or _NEGATION.search(label) or re.search(r"\b(?:or|and)\b", label, re.IGNORECASE):
            if not re.fullmatch(r"\s*(?:or|and)\s*", label, re.IGNORECASE):
                return "candidates or doubt inside \\text{}"
    if prompt and _echoes(text, visible, prompt):
        return "echoes the prompt"
    if not reference_multi and "\\begin" not in text:
        if len(answer.candidates) > 1 and len(set(answer.candidates)) > 1:
            return f"{len(answer.candidates)} different boxed answers"
        if is_multi_valued(text):
            return "lists several candidate answers"
    return None


# -- mixed numbers -------------------------------------------------------------------
# One reading for every form, the one Math-Verify's upstream tests fix
# (tests/test_mixed_number_extraction.py, huggingface/Math-Verify 05aa3a67):
# ``4 4/9`` is 40/9; a sign applies to the whole number (``-4 4/9`` is -40/9,
# ``+11 5/6`` is 71/6); ``4 0/9`` is 4 and ``0 4/9`` is 4/9; the whole part may
# have spaced thousands (``1 000 4/9`` is 9004/9); a percent after it applies to
# the whole value (``4 4/9%`` is 40/900). A fraction part that is not proper
# (``11 6/6``, ``11 7/6``, ``4 4/0``) gives the number no value at all: it is never
# read as one of its parts, nor as a sum or product of them. LaTeX forms
# (``4\frac{4}{9}``, ``-4 \dfrac{4}{9}``) follow the same rules. Parts separated by
# a line break, or a whole part that is not an integer (``11.0 4/9``,
# ``(11) 4/9``, ``11/10 4/9``), are not mixed numbers.
_H = r"[ \t\u00a0\u202f]"
_MIXED_NUMBER = re.compile(
    rf"^{_H}*(?P<sign>[-+−]?){_H}*(?P<whole>\d{{1,3}}(?:{_H}\d{{3}})+|\d+)"
    rf"(?:{_H}+(?P<num>0|[1-9]\d*){_H}*/{_H}*(?P<den>0|[1-9]\d*)"
    rf"|{_H}*\\[dt]?frac{_H}*(?:\{{{_H}*(?P<lnum>\d+){_H}*\}}{_H}*\{{{_H}*(?P<lden>\d+){_H}*\}}"
    rf"|(?P<snum>\d)(?P<sden>\d)))"
    rf"{_H}*(?P<pct>\\?%|per{_H}?cent(?:age)?|pct)?{_H}*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MixedNumber:
    """A mixed number as written: its value, or why it has none.

    Attributes:
        value: The number as a fraction (``None`` when the form has no value).
        problem: Why the form has no value (``fraction part 6/6 is not proper``).
    """

    value: Fraction | None
    problem: str = ""

    def latex(self) -> str:
        """The value as LaTeX math-verify reads exactly: ``71/6`` -> ``\\frac{71}{6}``, ``4`` -> ``4``."""
        assert self.value is not None
        sign = "-" if self.value < 0 else ""
        size = abs(self.value)
        if size.denominator == 1:
            return f"{sign}{size.numerator}"
        return f"{sign}\\frac{{{size.numerator}}}{{{size.denominator}}}"


def read_mixed_number(text: str) -> MixedNumber | None:
    """The mixed number ``text`` is, whole, or ``None`` when it is not one (see the policy above).

    Example:
        >>> read_mixed_number("-4 4/9").value
        Fraction(-40, 9)
        >>> read_mixed_number("11 6/6").problem
        'fraction part 6/6 of a mixed number is not a proper fraction'
    """
    m = _MIXED_NUMBER.match(text)
    if m is None:
        return None
    whole = int(re.sub(r"\D", "", m.group("whole")))
    forms = (("num", "den"), ("lnum", "lden"), ("snum", "sden"))  # 4 4/9, 4\frac{4}{9}, 4\frac49
    num, den = next((m.group(n), m.group(d)) for n, d in forms if m.group(n))
    numerator, denominator = int(num), int(den)
    if denominator == 0 or numerator >= denominator:
        return MixedNumber(None, f"fraction part {numerator}/{denominator} of a mixed number is not a proper fraction")
    value = whole + Fraction(numerator, denominator)
    if m.group("sign") in ("-", "−"):
        value = -value
    if m.group("pct"):
        value /= 100
    return MixedNumber(value)


def is_mixed_number(text: str) -> bool:
    """Whether ``text`` is, whole, a mixed number (proper or not): one value, never a list of two."""
    return _MIXED_NUMBER.match(text) is not None


# -- malformed references ------------------------------------------------------------
def unclosed_box(text: str) -> str | None:
    """``unclosed \\boxed{`` when a box command in ``text`` opens a group that never closes, else ``None``."""
    for command in _BOX_COMMANDS:
        start = text.find(command)
        while start != -1:
            j = start + len(command)
            while j < len(text) and text[j] in " \t":
                j += 1
            if j < len(text) and text[j] == "{" and _balanced(text, j) is None:
                return f"unclosed {command}{{"
            start = text.find(command, j)
    return None


def malformed_reason(text: str) -> str | None:
    """Why a reference answer is itself malformed (an unclosed ``\\boxed{``, unbalanced braces), or ``None``.

    A malformed reference is not guessed at: the sample abstains with this reason.
    """
    unclosed = unclosed_box(text)
    if unclosed is not None:
        return unclosed
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2  # \{ and \} are literal braces
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return "unbalanced braces: '}' without '{'"
        i += 1
    if depth > 0:
        return f"unbalanced braces: {depth} '{{' never closed"
    return None
