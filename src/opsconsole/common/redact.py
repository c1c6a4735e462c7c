"""Keep secrets off the screen and out of logs.

`redact_url` and `redact_sql` mask the one secret of a value we know the shape of (a DSN,
a query). `Redactor` is for text we know nothing about: every line a runbook command
prints goes through it before it reaches the screen, the artifact file or an export.

What a `Redactor` masks, replacing the secret part with ``***`` and keeping the rest of
the line readable:

- the literal values it was given (runbook parameters marked secret, passwords of the
  configured DSNs, ...) and the values of environment variables whose names look secret
  (`is_secret_name`), wherever they appear, also URL-encoded or JSON-escaped;
- the password of a URL, ``scheme://user:PASSWORD@host``, whatever the scheme;
- the value after a secret-looking name and ``=`` or ``:``: ``PGPASSWORD=x``,
  ``password='x'`` (libpq), ``"api_key": "x"``, ``X-Api-Key: x``, ``?access_token=x&...``;
  and ``PASSWORD 'x'`` as SQL writes it;
- ``Authorization: Bearer|Basic|Token x`` (any other scheme: everything after the name);
- tokens of a well-known format, their type prefix kept so a reader knows what was there:
  AWS access key ids (``AKIA***``), GitHub (``ghp_***``, ``github_pat_***``), Slack
  (``xoxb-***``), Stripe secret and restricted keys (``sk_live_***``), Google API keys
  (``AIza***``), JWTs (``eyJ***``);
- the body of a PEM private key block (``-----BEGIN ... PRIVATE KEY-----``): from the
  BEGIN line to the END line, or to the end of the text when the END line is not in it.
  A caller that passes one line at a time uses `Redactor.stream` (or `redact_lines`),
  which remembers that it is inside a block and masks each following line whole until
  the END line.

Redacting is idempotent: redacting a redacted text changes nothing.

It errs on the side of masking: any value after a name containing TOKEN, SECRET, ... is
masked, so ``max_tokens=100`` shows as ``max_tokens=***``. It does not guess at secrets
by their entropy: a git commit id, a sha256, a UUID is left as it is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"

MIN_SECRET_LENGTH = 4
"""Literal secret values shorter than this are not searched for. A one-to-three
character value (``app``, ``yes``, ``42``, a one-letter password of a test database)
occurs all over ordinary output: masking every occurrence would mangle most lines and,
since the masks show where the value stood, would not even keep it secret. Such a value
is still masked where its context gives it away (``PASSWORD=ab``, ``user:ab@host``)."""


def redact_url(url: str) -> str:
    """``postgresql://app:s3cret@db:5432/app`` -> ``postgresql://app:***@db:5432/app``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


_SQL_PASSWORD = re.compile(r"(\bPASSWORD\s+)(E?'(?:[^']|'')*'?)", re.IGNORECASE)


def redact_sql(query: str) -> str:
    """``ALTER ROLE app PASSWORD 's3cret'`` -> ``ALTER ROLE app PASSWORD '***'``."""
    return _SQL_PASSWORD.sub(lambda match: f"{match[1]}'{MASK}'", query)


# -- names ---------------------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIALS", re.IGNORECASE
)

# Values of secret-looking variables that are settings, not secrets: without this,
# TOKENIZERS_PARALLELISM=false would mask every "false" in the output.
_NOT_SECRET_VALUES = frozenset({"true", "false", "none", "null", "enabled", "disabled"})


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret: its name contains
    PASSWORD, PASSWD, TOKEN, SECRET, API_KEY, APIKEY, PRIVATE_KEY or CREDENTIALS, in any
    case."""
    return _SECRET_NAME.search(name) is not None


def secrets_of_env(env: Mapping[str, str]) -> list[str]:
    """The values of `env` that `Redactor` treats as secrets."""
    return [
        value
        for name, value in env.items()
        if is_secret_name(name) and value.strip().lower() not in _NOT_SECRET_VALUES
    ]


# -- patterns ------------------------------------------------------------------------
# One regular expression, alternatives tried left to right at each position. In every
# alternative the secret is the capturing group that closes last (each alternative has
# one, or several in branches of which one matches), so `_mask` can keep everything
# else the match covers. No alternative can backtrack more than once over a run of text:
# a long line costs time in proportion to its length.
#
# Speed: every alternative starts with one literal character and is case-insensitive
# only after it, in (?i:...), with one alternative per case of that character. Python's
# regex engine then skips, with a table look-up, every position whose character no
# alternative starts with, and at the others rejects the alternatives of other first
# characters with one comparison each: seven times faster than the same patterns under a
# global IGNORECASE. Left-boundary checks come after that first character, as
# look-behinds two characters wide: ``x(?<![A-Za-z0-9].)`` is "x, not after a letter or
# digit".

# A `&`, `,` or `;` ends an unquoted value when the next key=value pair follows it
# (``?token=x&page=2``), and is part of it otherwise (``PASSWORD=a&b`` printed by env).
_NEXT_PAIR = r"[ \t]*[\w.-]+[ \t]*[=:]"
_VALUE = (
    r"(?:\"((?:[^\"\\\r\n]|\\.)*+)\"?"  # "double quoted", \-escapes, may be cut short
    r"|'((?:[^'\\\r\n]|\\.)*+)'?"  # 'single quoted'
    r"|((?:[^\s&,;'\"]|[&,;](?!" + _NEXT_PAIR + r"))++))"  # up to a space or quote
)
# NAME=value, NAME: value, "NAME": "value", X-Api-Key: value, after one of the keywords
# below (DB_PASSWORD, PGPASSWORD and x-api-key have them inside). Not after "/", so that
# "cat: /etc/passwd: No such file" stays as it is.
_AFTER_NAME = r"[\w.-]{0,64}+[\"']?[ \t]*[=:][ \t]*" + _VALUE
_NAME_KEYWORDS = {
    "p": r"ass(?:wor|w)d|rivate[_-]?key",
    "t": "oken",
    "s": "ecret",
    "a": r"pi[_-]?key",
    "c": "redentials",
}
_AUTH_SCHEME = r"(?i:bearer|basic|token)[ \t]+([^\s'\"]+)"
_PEM_MARKER = r"[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"


def _any_case(first: str, rest: str) -> list[str]:
    """`first` in either case, then `rest`, where (?i:...) makes letters any case."""
    return [first.lower() + rest, first.upper() + rest]


_PATTERNS = [
    # scheme://user:PASSWORD@host -- the user may hold "@" (Azure's user@server), the
    # password ":" and "@" too; the host starts after the last "@", as urlsplit has it.
    r"://[^\s/?#:]*+:([^\s/?#]+)@",
    *(
        pattern
        for first, rest in _NAME_KEYWORDS.items()
        for pattern in _any_case(first, r"(?<!/.)(?i:" + rest + ")" + _AFTER_NAME)
    ),
    # SQL: ALTER ROLE app PASSWORD 'x'
    *_any_case("p", r"(?<!\w.)(?i:assword[ \t]+e?)'((?:[^'\r\n]|'')*+)'?"),
    # Authorization: Bearer x; "Authorization": "Basic x"; any other scheme (Digest,
    # AWS4-HMAC-SHA256, ...): all of the value, to the closing quote or the line's end.
    *_any_case(
        "a",
        r"(?i:uthorization)[\"']?[ \t]*[=:][ \t]*"
        r"(?:" + _AUTH_SCHEME + r"|\"(?:" + _AUTH_SCHEME + r"|((?:[^\"\\\r\n]|\\.)*+))"
        r"|'(?:" + _AUTH_SCHEME + r"|((?:[^'\\\r\n]|\\.)*+))|([^\s'\"](?:[^\r\n]*\S)?))",
    ),
    # PEM private key: the body, up to the END line or the end of the text.
    r"-(?i:----BEGIN" + _PEM_MARKER + r"\s*((?!-----END)\S(?s:.*?\S)?)"
    r"(?=\s*-----END" + _PEM_MARKER + r"|\s*\Z))",
    # Well-known token formats, case-sensitive, the type prefix kept.
    r"A(?<![A-Za-z0-9].)(?:KIA|SIA)([A-Z0-9]{16})(?![A-Za-z0-9])",
    r"g(?<![A-Za-z0-9].)(?:h[pousr]_|ithub_pat_)([A-Za-z0-9_]{20,}+)",
    r"x(?<![A-Za-z0-9].)ox[abprs]-([A-Za-z0-9-]{10,}+)",
    r"s(?<![A-Za-z0-9].)k_(?:live|test)_([A-Za-z0-9]{10,}+)",
    r"r(?<![A-Za-z0-9].)k_(?:live|test)_([A-Za-z0-9]{10,}+)",
    r"A(?<![A-Za-z0-9_-].)Iza([0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
    # JWT: header, payload, signature (empty when unsigned); "eyJ" is base64 for '{"'.
    r"e(?<![A-Za-z0-9_-].)yJ([A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]*+)",
]
_COMBINED = re.compile("|".join(_PATTERNS), re.ASCII)

# The fast path. Every match of _COMBINED contains one of these, case-folded: a line
# containing none (most lines) is returned after one search of its case-folded text.
_TRIGGERS = [
    *("passw", "token", "secret", "api_key", "apikey", "api-key", "private", "credentials"),
    "authorization",
    *("akia", "asia", "aiza", "eyj", "github_pat_", "sk_live_", "rk_live_", "sk_test_", "rk_test_"),
    *(f"gh{kind}_" for kind in "pousr"),
    *(f"xox{kind}-" for kind in "abprs"),
]
_TRIGGER_SUFFIXES = {"://": r"[^\s/?#]*@"}  # a URL only when it has user info
_LITERAL_PREFIX = 16

_PEM_BEGIN = re.compile(r"-----BEGIN" + _PEM_MARKER, re.IGNORECASE | re.ASCII)
_PEM_END = re.compile(r"-----END" + _PEM_MARKER, re.IGNORECASE | re.ASCII)


def _mask(match: re.Match[str]) -> str:
    group = match.lastindex
    assert group is not None  # every alternative has a group that must match
    start, end = match.span(group)
    text = match.string
    return text[match.start() : start] + MASK + text[end : match.end()]


def _trie_pattern(words: Iterable[str], suffixes: Mapping[str, str]) -> str:
    """One alternation matching any of `words` (each followed by its pattern in
    `suffixes`, if any), shaped as a trie: the regex engine picks a branch by its first
    character instead of trying every word in turn."""
    trie: dict[str, Any] = {}
    for word in [*words, *suffixes]:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = suffixes.get(word, "")

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if node.get(""):
            branches.append(node[""])
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy: a word longer than another it starts with is tried first.
        return f"(?:{body})?" if node.get("") == "" else body

    return emit(trie)


def _variants(secret: str) -> set[str]:
    """The forms in which `secret` may show up in output."""
    plain = {secret, secret.strip()}
    # A multi-line secret (a key, a JSON credential) reaches us one line at a time.
    plain.update(line.strip() for line in secret.splitlines())
    forms = set()
    for value in plain:
        if len(value) < MIN_SECRET_LENGTH:
            continue
        forms.add(value)
        forms.add(json.dumps(value)[1:-1])
        forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
        for encoded in (quote(value, safe=""), quote_plus(value, safe="")):
            forms.add(encoded)
            forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded))
    return forms


class Redactor:
    """Masks secrets in text; see the module's docstring for what counts as one.

    `secrets`: values known to be secret. `env`: the environment commands run with
    (default: os.environ, read once, now); the values of its variables whose names look
    secret (`is_secret_name`) are masked too, except a few that are plainly settings
    (true, false, ...). Values shorter than `MIN_SECRET_LENGTH` are ignored.

    Calling it is stateless and thread-safe; see `stream` for text that comes a line at
    a time.
    """

    def __init__(self, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
        known = list(secrets)
        known += secrets_of_env(os.environ if env is None else env)
        self._secrets = tuple(dict.fromkeys(s for s in known if s))
        forms: set[str] = set()
        for secret in self._secrets:
            forms |= _variants(secret)
        # Longest first: where one secret is part of another, the longer one is masked
        # whole (the regex engine takes the first alternative that matches).
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._literal = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        # The fast path: one search of the text case-folded for the keywords of the
        # patterns and the start of every literal form. str.casefold maps each character
        # on its own (str.lower does not: Σ depends on its neighbours), so a form found in
        # a text has its case-folded start found in the text case-folded; the first
        # characters suffice and keep the trie shallow.
        prefixes = [form.casefold()[:_LITERAL_PREFIX] for form in ordered]
        self._trigger = re.compile(
            _trie_pattern([*_TRIGGERS, *prefixes], _TRIGGER_SUFFIXES), re.ASCII
        )

    def __call__(self, text: str) -> str:
        if self._trigger.search(text.casefold()) is None:
            return text
        if self._literal is not None:
            # Before the patterns, so that a secret holding a space is masked whole, not
            # cut at the space by `NAME=value`.
            text = self._literal.sub(MASK, text)
        return _COMBINED.sub(_mask, text)

    def cut_point(self, text: str, cut: int) -> int:
        """Where to end a piece of `text` at or before `cut` so that no secret is cut in
        two and escapes masking in both pieces: `cut`, or the start of the first span it
        would mask that runs across it. `text` goes on past `cut` as far as such a span
        may reach (a line is cut when no separator comes near: a token of letters alone,
        or a known secret in a run of them)."""
        spans = [] if self._literal is None else [m.span() for m in self._literal.finditer(text)]
        spans += [m.span() for m in _COMBINED.finditer(text)]
        return min((start for start, end in spans if start < cut < end), default=cut)

    def with_secrets(self, *more: str) -> Redactor:
        """A copy that also masks `more` (a parameter's value once it is known)."""
        return Redactor([*self._secrets, *more], env={})

    def stream(self) -> LineRedactor:
        """A redactor for the lines of one stream, in order (one per stream: stdout and
        stderr interleave). It masks the lines of a PEM private key whose BEGIN line
        came on an earlier line."""
        return LineRedactor(self)

    def redact_lines(self, lines: Iterable[str]) -> Iterator[str]:
        """The lines of one stream, redacted, PEM blocks across lines included."""
        line_redactor = self.stream()
        for line in lines:
            yield line_redactor(line)


class LineRedactor:
    """Redacts the lines of one stream with a `Redactor`, one call per line, and
    remembers whether a PEM private key block is open: until its END line, every line
    is masked whole (blank lines stay blank; a line ending is kept). A block whose END
    line never comes masks the rest of the stream: that is the safe side."""

    def __init__(self, redactor: Redactor) -> None:
        self._redact = redactor
        self.in_private_key = False

    def __call__(self, line: str) -> str:
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        head = ""
        if self.in_private_key:
            end = _PEM_END.search(body)
            if end is None:
                return (MASK if body.strip() else body) + ending
            self.in_private_key = False
            head = MASK if body[: end.start()].strip() else body[: end.start()]
            body = body[end.start() :]
        self.in_private_key = _opens_block(body)
        return head + self._redact(body) + ending


def _opens_block(text: str) -> bool:
    """Whether `text` has a BEGIN line of a private key with no END line after it."""
    begin = None
    for begin in _PEM_BEGIN.finditer(text):  # noqa: B007 -- the last one counts
        pass
    return begin is not None and _PEM_END.search(text, begin.end()) is None
