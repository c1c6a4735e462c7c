"""What the redactor masks in command output, what it leaves alone, and the older helpers."""

from __future__ import annotations

import pytest

from opsconsole.common.redact import (
    MASK,
    MIN_SECRET_LENGTH,
    Redactor,
    is_secret_name,
    redact_sql,
    redact_url,
    secrets_of_env,
)

PLAIN = Redactor(env={})

GH_CLASSIC = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

# (input, expected): the secret part masked, everything around it kept as it was.
PATTERN_CASES = {
    # passwords in URLs, any scheme
    "postgres dsn": (
        "connecting to postgresql://app:s3cret@db:5432/app ...",
        "connecting to postgresql://app:***@db:5432/app ...",
    ),
    "redis, no user, short password": (
        "redis://:pw@cache:6379/0 up",
        "redis://:***@cache:6379/0 up",
    ),
    "password holding @ and :": (
        "mongodb+srv://user:p@ss:w0rd@cluster0.example.net/db?retryWrites=true",
        "mongodb+srv://user:***@cluster0.example.net/db?retryWrites=true",
    ),
    "user holding @ (Azure)": (
        "postgres://app@srv:pw123@srv.postgres.database.azure.com/db",
        "postgres://app@srv:***@srv.postgres.database.azure.com/db",
    ),
    "amqp in a log line": (
        "2024-05-01 INFO broker amqp://guest:guest@rabbit:5672/ connected",
        "2024-05-01 INFO broker amqp://guest:***@rabbit:5672/ connected",
    ),
    # libpq keyword/value
    "libpq password=": (
        "host=db port=5432 password=s3cret dbname=app",
        "host=db port=5432 password=*** dbname=app",
    ),
    "libpq quoted, escaped quote": (
        r"host=db password='s3 cr\'et' dbname=app",
        "host=db password='***' dbname=app",
    ),
    "libpq spaces around =": (
        "password = s3cret sslmode=require",
        "password = *** sslmode=require",
    ),
    # Authorization and API key headers
    "bearer": ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    "basic, lower case": ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
    "token scheme": ("Authorization: Token 0123abcd4567", "Authorization: Token ***"),
    "bearer, then more text": (
        "> Authorization: Bearer abc (expired)",
        "> Authorization: Bearer *** (expired)",
    ),
    "curl -H double quotes": (
        'curl -sf -H "Authorization: Bearer abc123" https://api.example.com/v1',
        'curl -sf -H "Authorization: Bearer ***" https://api.example.com/v1',
    ),
    "curl -H api key single quotes": (
        "curl -H 'X-Api-Key: k3y-v4lue' https://api.example.com/v1",
        "curl -H 'X-Api-Key: ***' https://api.example.com/v1",
    ),
    "python dict of headers": (
        "{'Authorization': 'Bearer abc', 'Accept': '*/*'}",
        "{'Authorization': 'Bearer ***', 'Accept': '*/*'}",
    ),
    "other scheme: the whole value": (
        'Authorization: Digest username="bob", response="6629fae4"',
        "Authorization: ***",
    ),
    "other scheme in JSON: to the closing quote": (
        r'{"Authorization": "Digest username=\"bob\"", "status": 401}',
        '{"Authorization": "***", "status": 401}',
    ),
    "x-auth-token header": ("X-Auth-Token: 9f8e7d6c", "X-Auth-Token: ***"),
    # key=value in query strings and elsewhere
    "api_key in a query string": (
        "GET /v1/items?page=2&api_key=abc123&sort=asc HTTP/1.1 200",
        "GET /v1/items?page=2&api_key=***&sort=asc HTTP/1.1 200",
    ),
    "access_token in a query string": (
        "callback https://app.example.com/cb?access_token=ya29.a0Af&state=xyz",
        "callback https://app.example.com/cb?access_token=***&state=xyz",
    ),
    "token=": ("webhook token=abc123 delivered", "webhook token=*** delivered"),
    "apiKey camelCase in JSON": (
        '{"apiKey": "abc123", "region": "eu-west-1"}',
        '{"apiKey": "***", "region": "eu-west-1"}',
    ),
    "JSON password, escaped quote": (
        r'{"password": "s3\"cret", "user": "bob"}',
        '{"password": "***", "user": "bob"}',
    ),
    "YAML secret": ("  client_secret: abc123  # rotated", "  client_secret: ***  # rotated"),
    "docker inspect Env": (
        '"Env": ["POSTGRES_PASSWORD=pw", "PGDATA=/var/lib/postgresql/data"],',
        '"Env": ["POSTGRES_PASSWORD=***", "PGDATA=/var/lib/postgresql/data"],',
    ),
    "quote left open": ('password="abc', 'password="***'),
    # NAME=value assignments
    "PASSWORD=": ("PASSWORD=hunter22", "PASSWORD=***"),
    "PGPASSWORD= before a command": (
        "+ PGPASSWORD=s3cret psql -h db -U app",
        "+ PGPASSWORD=*** psql -h db -U app",
    ),
    "REDIS_PASSWORD:": ("REDIS_PASSWORD: s3cret", "REDIS_PASSWORD: ***"),
    "export AWS secret": (
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export AWS_SECRET_ACCESS_KEY=***",
    ),
    "passwd": ("MYSQL_ROOT_PASSWD=toor!", "MYSQL_ROOT_PASSWD=***"),
    "credentials": ("GIT_CREDENTIALS=https-creds", "GIT_CREDENTIALS=***"),
    "private_key": ("SSH_PRIVATE_KEY=base64blob==", "SSH_PRIVATE_KEY=***"),
    "& inside a value printed by env": ("DB_PASSWORD=a&b&c", "DB_PASSWORD=***"),
    "--password=": ("mysqldump --password=s3cret --all", "mysqldump --password=*** --all"),
    # SQL
    "SQL PASSWORD literal": (
        "ALTER ROLE app PASSWORD 'it''s s3cret' VALID UNTIL 'infinity';",
        "ALTER ROLE app PASSWORD '***' VALID UNTIL 'infinity';",
    ),
    # well-known token formats: the type prefix stays
    "AWS access key id": ("aws: AKIAIOSFODNN7EXAMPLE in use", "aws: AKIA*** in use"),
    "AWS temporary key id": ("ASIAY34FZKBOKMUTVV7A,", "ASIA***,"),
    "GitHub classic": (f"remote: token {GH_CLASSIC} ok", "remote: token ghp_*** ok"),
    "GitHub oauth/user/server/refresh": (
        " ".join(f"{p}_{'x' * 36}" for p in ("gho", "ghu", "ghs", "ghr")),
        "gho_*** ghu_*** ghs_*** ghr_***",
    ),
    "GitHub fine-grained": (
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV.",
        "github_pat_***.",
    ),
    "Slack bot": ("slack=xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "slack=xoxb-***"),
    "Slack user": ("using xoxp-2-3-4-5abcdefghij now", "using xoxp-*** now"),
    "Stripe live secret": ("sk_live_4eC39HqLyjWDarjtT1zdp7dc charged", "sk_live_*** charged"),
    "Stripe restricted": ("rk_live_51H0abcdefGHIJKLmnop", "rk_live_***"),
    "Google API key": (
        "maps key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY loaded",
        "maps key AIza*** loaded",
    ),
    "JWT": (f"id_token {JWT} issued", "id_token eyJ*** issued"),
    "JWT, unsigned": ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "eyJ***"),
    # PEM private keys, whole in the text
    "PEM block": (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nqn2VYm0=\n"
        "-----END RSA PRIVATE KEY-----\ndone",
        "key:\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\ndone",
    ),
    "PEM block, escaped newlines on one line": (
        r"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n",
        r"-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----\n",
    ),
    "PEM block cut short: to the end of the text": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACDx",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n***",
    ),
    "PGP private key block": (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n***\n-----END PGP PRIVATE KEY BLOCK-----",
    ),
    "several kinds on one line": (
        "postgres://a:b@h/d?sslpassword=x&x=1 Authorization: Bearer t",
        "postgres://a:***@h/d?sslpassword=***&x=1 Authorization: Bearer ***",
    ),
}

# Ordinary output: nothing in it is a secret, nothing may change.
ORDINARY = [
    "2024-05-01T12:34:56.789Z INFO  [worker-3] request_id=3f2a9c1e-8b7d-4e2a-9c1f-2b3d4e5f6a7b"
    " GET /api/v1/orders/12345 200 12.3ms",
    "commit 3f2a9c1e8b7d4e2a9c1f2b3d4e5f6a7b8c9d0e1f",  # a git sha: 40 hex digits
    "Merge: 1a2b3c4 5d6e7f8",
    "image@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "dGhpcyBpcyBub3QgYSBzZWNyZXQ= (base64 of a harmless sentence)",
    "Connected to https://api.example.com:8443/v1/health?verbose=1",
    "cloning ssh://git@github.com:22/org/repo.git",
    "git@github.com:org/repo.git",
    "mail sent to alice@example.com at 12:30:01",
    "listening on [::1]:8080 and 10.0.0.1:5432",
    "pod/api-7d9f8b6c5-x2x7z   1/1   Running   0   3d4h",
    "cat: /etc/passwd: Permission denied",
    "Rotating secrets for service api",
    "token refreshed in 12ms",
    "DEBUG tokenizer loaded",
    "Authorization header missing",
    "private key loaded from /etc/ssl/private/server.pem",
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN RSA PRIVATE KEY-----",  # the marker alone: nothing secret on this line
    "TZ=Asia/Tokyo",
    "pk_live_51H0abcdefGHIJKLmnop is a publishable key",
    "",
]


@pytest.mark.parametrize(("text", "expected"), PATTERN_CASES.values(), ids=PATTERN_CASES.keys())
def test_patterns_mask_the_secret_and_keep_the_rest(text: str, expected: str) -> None:
    assert PLAIN(text) == expected


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_output_is_left_alone(text: str) -> None:
    assert PLAIN(text) == text


@pytest.mark.parametrize(
    "text", [text for text, _ in PATTERN_CASES.values()] + ORDINARY, ids=lambda t: t[:40]
)
def test_redacting_twice_is_redacting_once(text: str) -> None:
    redactor = Redactor(["s3cret", "hunter22", "p@ss:w0rd"], env={})
    once = redactor(text)
    assert redactor(once) == once


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret@db:5432/app",
        "redis://:pw@cache:6379/0",
        "postgres://u:p@ss@h/db",
        "http://h/x",
        "unix:///tmp/redis.sock",
    ],
)
def test_urls_redacted_as_redact_url_does(url: str) -> None:
    assert PLAIN(url) == redact_url(url)


# -- literal secrets -------------------------------------------------------------------

LITERAL_CASES = {
    "anywhere": (["hunter2!x"], "login as bob with hunter2!x ok", "login as bob with *** ok"),
    "inside a word": (["s3cr3t"], "key=xs3cr3tx", "key=x***x"),
    "URL-encoded": (
        ["p@ss/w0rd"],
        "GET /cb?next=p%40ss%2Fw0rd HTTP/1.1",
        "GET /cb?next=*** HTTP/1.1",
    ),
    "URL-encoded, lower-case hex": (["p@ss/w0rd"], "next=p%40ss%2fw0rd", "next=***"),
    "form-encoded": (["correct horse"], "q=correct+horse&x=1", "q=***&x=1"),
    "JSON-escaped": (['a"b\\c1'], '{"v": "a\\"b\\\\c1"}', '{"v": "***"}'),
    "longest first": (["abcd", "abcdefgh"], "x abcdefgh y abcd", "x *** y ***"),
    "holding a space, after NAME=": (["my secret pass"], "PASSWORD=my secret pass", "PASSWORD=***"),
    "each line of a multi-line secret": (
        ["line-one-xx\nline-two-yy"],
        "got line-two-yy",
        "got ***",
    ),
    "trailing newline of a secret read from a file": (["t0k3n-value\n"], "t0k3n-value", "***"),
    "non-ASCII": (["pässwörd"], "login pässwörd ok", "login *** ok"),
    # "ΑΣΑΣ".lower() ends in a final sigma (ς), the same letters inside a word do not: the
    # fast path must not miss it.
    "Greek sigma": (["\u0391\u03a3\u0391\u03a3"], "x\u0391\u03a3\u0391\u03a3\u0391", "x***\u0391"),
    "case matters": (["Hunter22"], "hunter22 Hunter22", "hunter22 ***"),
}


@pytest.mark.parametrize(
    ("secrets", "text", "expected"), LITERAL_CASES.values(), ids=LITERAL_CASES.keys()
)
def test_literal_secrets(secrets: list[str], text: str, expected: str) -> None:
    redactor = Redactor(secrets, env={})
    assert redactor(text) == expected
    assert redactor(redactor(text)) == redactor(text)


def test_values_shorter_than_the_minimum_are_ignored() -> None:
    assert MIN_SECRET_LENGTH == 4
    redactor = Redactor(["abc", "", "1"], env={"DB_PASSWORD": "ab"})
    assert redactor("abc is a prefix of abcdef, 1 of 10; ab") == (
        "abc is a prefix of abcdef, 1 of 10; ab"
    )
    # Where the context gives a short value away, it is still masked.
    assert redactor("PASSWORD=abc postgres://u:ab@h/d") == "PASSWORD=*** postgres://u:***@h/d"
    assert Redactor(["abcd"], env={})("abcd") == MASK


def test_with_secrets_is_a_copy_that_knows_more() -> None:
    first = Redactor(["first-secret"], env={"API_TOKEN": "env-token-1"})
    second = first.with_secrets("second-secret", "ab")
    text = "first-secret second-secret env-token-1"
    assert second(text) == "*** *** ***"
    assert first(text) == "*** second-secret ***"


# -- the environment -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PASSWORD", True),
        ("PGPASSWORD", True),
        ("REDIS_PASSWORD", True),
        ("MYSQL_ROOT_PASSWD", True),
        ("GITHUB_TOKEN", True),
        ("aws_secret_access_key", True),
        ("STRIPE_API_KEY", True),
        ("OPENAI_APIKEY", True),
        ("SSH_PRIVATE_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("HOME", False),
        ("PATH", False),
        ("SSH_AUTH_SOCK", False),
        ("PUBLIC_KEY", False),
        ("API_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_values_of_secret_env_variables_are_masked_wherever_they_appear() -> None:
    env = {
        "DB_PASSWORD": "envpass1",
        "GITHUB_TOKEN": "t0k3n-from-env",
        "my_api_key": "k3y-lower",
        "HOME": "/home/alice",
        "TOKENIZERS_PARALLELISM": "false",  # a setting, not a secret
        "PGPASSWORD": "ab",  # too short
    }
    assert sorted(secrets_of_env(env)) == ["ab", "envpass1", "k3y-lower", "t0k3n-from-env"]
    redactor = Redactor(env=env)
    assert redactor("envpass1 t0k3n-from-env /home/alice k3y-lower false ab") == (
        "*** *** /home/alice *** false ab"
    )
    assert redactor("git clone https://x:t0k3n-from-env@github.com/o/r") == (
        "git clone https://x:***@github.com/o/r"
    )


def test_the_default_environment_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCONSOLE_TEST_SECRET", "from-os-environ")
    monkeypatch.setenv("OPSCONSOLE_TEST_PLAIN", "plain-value")
    assert Redactor()("x from-os-environ plain-value") == "x *** plain-value"


# -- lines one at a time: PEM blocks ---------------------------------------------------

KEY_LINES = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "",
    "QyNTUxOQAAACDxbW9yZQ==",
    "-----END OPENSSH PRIVATE KEY-----",
]


def test_a_stream_masks_the_lines_of_a_private_key() -> None:
    lines = ["before token=abc", *KEY_LINES, "after password=x"]
    assert list(PLAIN.redact_lines(lines)) == [
        "before token=***",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        MASK,
        "",
        MASK,
        "-----END OPENSSH PRIVATE KEY-----",
        "after password=***",
    ]


def test_a_stream_keeps_line_endings() -> None:
    lines = [line + "\n" for line in KEY_LINES[:2]] + ["-----END OPENSSH PRIVATE KEY-----\r\n"]
    assert list(PLAIN.redact_lines(lines)) == [
        "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "***\n",
        "-----END OPENSSH PRIVATE KEY-----\r\n",
    ]


def test_a_stream_handles_text_around_the_markers() -> None:
    stream = PLAIN.stream()
    assert stream("key: -----BEGIN EC PRIVATE KEY-----MHcCAQEE") == (
        "key: -----BEGIN EC PRIVATE KEY-----***"
    )
    assert stream.in_private_key
    assert stream("oAoGCCqGSM49") == MASK
    assert stream("AwEHoUQDQgAE-----END EC PRIVATE KEY----- token=abc") == (
        "***-----END EC PRIVATE KEY----- token=***"
    )
    assert not stream.in_private_key
    # A block that opens again on its END line.
    assert stream("-----END RSA PRIVATE KEY----------BEGIN RSA PRIVATE KEY-----") == (
        "-----END RSA PRIVATE KEY----------BEGIN RSA PRIVATE KEY-----"
    )
    assert stream.in_private_key
    assert stream("MIIE") == MASK


def test_a_block_whose_end_never_comes_masks_the_rest() -> None:
    lines = [KEY_LINES[0], "abc", "ordinary output", "more"]
    assert list(PLAIN.redact_lines(lines)) == [KEY_LINES[0], MASK, MASK, MASK]


def test_streams_are_independent_and_calls_stateless() -> None:
    stdout, stderr = PLAIN.stream(), PLAIN.stream()
    assert stdout(KEY_LINES[0]) == KEY_LINES[0]
    assert stderr("ordinary") == "ordinary"
    assert stdout(KEY_LINES[1]) == MASK
    # Calling the Redactor itself remembers nothing: one text at a time.
    assert PLAIN(KEY_LINES[0]) == KEY_LINES[0]
    assert PLAIN(KEY_LINES[1]) == KEY_LINES[1]


def test_a_stream_uses_the_literal_secrets_of_its_redactor() -> None:
    redactor = Redactor(["hunter2!x"], env={})
    assert list(redactor.redact_lines(["pw hunter2!x"])) == ["pw ***"]


# -- redact_url and redact_sql, unchanged ----------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
        ("http://h/x", "http://h/x"),
        ("http://u@h", "http://u@h"),
        ("unix:///tmp/x.sock", "unix:///tmp/x.sock"),
        ("http://[::1", MASK),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ALTER ROLE app PASSWORD 's3cret'", "ALTER ROLE app PASSWORD '***'"),
        ("alter role x password E'it''s'", "alter role x password '***'"),
        ("CREATE ROLE a WITH PASSWORD 'unterminated", "CREATE ROLE a WITH PASSWORD '***'"),
        ("SELECT 1", "SELECT 1"),
        ("password   'x' and PASSWORD 'y'", "password   '***' and PASSWORD '***'"),
    ],
)
def test_redact_sql(query: str, expected: str) -> None:
    assert redact_sql(query) == expected
