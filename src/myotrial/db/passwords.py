"""Password policy of the trial database: length and a bundled list of common passwords.

Follows NIST SP 800-63B §5.1.1.2: at least :data:`MIN_PASSWORD_LENGTH` characters (no
composition rules), at most :data:`MAX_PASSWORD_LENGTH`, and refused when the password is a
commonly used one. The list is shipped with the package (no download): frequent passwords of
public breach corpora, keyboard runs and their usual decorations. A password is "common" when,
ignoring case, it is on the list, or it is one of them with digits or punctuation around it
(``Password2024!``), or it is one character repeated, only digits, or a run of the keyboard or
the alphabet, or it contains the user name or "myotrial".
"""

from __future__ import annotations

import re

__all__ = ["COMMON_PASSWORDS", "MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "password_problem"]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

#: Frequent passwords and base words (lower case), from public top-lists of breach corpora.
COMMON_PASSWORDS: frozenset[str] = frozenset((
    "password", "passw0rd", "p@ssword", "p@ssw0rd", "pass123", "password1", "password12",
    "password123", "password1234", "passwordpassword", "mypassword", "newpassword",
    "secretpassword", "supersecret", "secret", "secret123", "letmein", "letmeinnow", "welcome",
    "welcome1", "welcome123", "welcomewelcome", "admin", "admin123", "administrator",
    "administrator1", "adminadmin", "root", "toor", "changeme", "changeit", "default", "guest",
    "user", "test", "testing", "tester", "iloveyou", "iloveyou1", "iloveyouiloveyou", "loveyou",
    "lovely", "sunshine", "sunshine1", "princess", "princess1", "dragon", "dragon1", "monkey",
    "monkey1", "football", "football1", "baseball", "baseball1", "basketball", "soccer", "hockey",
    "master", "master1", "mustang", "shadow", "superman", "batman", "spiderman", "starwars",
    "trustno1", "whatever", "qazwsx", "qazwsxedc", "qazwsxedcrfv", "zaq12wsx", "zaq1zaq1",
    "1q2w3e4r", "1q2w3e4r5t", "1q2w3e4r5t6y", "q1w2e3r4", "q1w2e3r4t5", "qwerty", "qwerty1",
    "qwerty123", "qwertyuiop", "qwertyuiop123", "qwertyuiopasdfghjkl", "asdfgh", "asdfghjkl",
    "asdfghjkl123", "zxcvbnm", "zxcvbnm123", "abc123", "abcd1234", "abcdef", "abcdefgh",
    "abcdefghijkl", "123abc", "aaaaaa", "111111", "121212", "123123", "123321", "654321",
    "666666", "696969", "777777", "987654321", "123456", "1234567", "12345678", "123456789",
    "1234567890", "0987654321", "michael", "jennifer", "jordan", "harley", "ranger", "thomas",
    "robert", "daniel", "andrew", "joshua", "hunter", "charlie", "george", "summer", "flower",
    "freedom", "computer", "internet", "samsung", "google", "facebook", "linkedin", "microsoft",
    "apple", "pokemon", "minecraft", "starwars1", "cheese", "chocolate", "cookie", "butterfly",
    "purple", "orange", "banana", "pepper", "ginger", "maggie", "buster", "tigger", "jessica",
    "ashley", "nicole", "hello", "hello123", "helloworld", "hellohello", "goodbye", "friends",
    "family", "forever", "myspace", "blink182", "liverpool", "chelsea", "arsenal", "barcelona",
    "manchester", "yankees", "cowboys", "eagles", "killer", "matrix", "access", "access14",
    "login", "login123", "system", "server", "oracle", "database", "clinical", "clinicaltrial",
    "hospital", "doctor", "nurse", "patient", "medicine", "research", "science", "myositis",
    "dermatomyositis", "immunoglobulin", "placebo", "randomise", "randomize", "randomisation",
    "correcthorsebatterystaple", "correcthorse", "trial", "trialtrial", "proderm",
))

_KEYBOARD_ROWS = ("qwertyuiopasdfghjklzxcvbnm", "1234567890", "abcdefghijklmnopqrstuvwxyz",
                  "qazwsxedcrfvtgbyhnujmikolp", "0987654321", "zyxwvutsrqponmlkjihgfedcba",
                  "mnbvcxzlkjhgfdsapoiuytrewq")
_DECORATION = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$")


def _is_run(text: str) -> bool:
    return len(text) >= 4 and any(text in row * 3 for row in _KEYBOARD_ROWS)


def password_problem(password: object, username: str | None = None) -> str | None:
    """The rule a new password breaks, or None when it is acceptable."""
    if not isinstance(password, str):
        return "password must be text"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must have at most {MAX_PASSWORD_LENGTH} characters"
    folded = password.casefold()
    compact = re.sub(r"\s+", "", folded)
    core = _DECORATION.match(compact)
    base = core.group(1) if core else compact
    common = (compact in COMMON_PASSWORDS or base in COMMON_PASSWORDS or len(set(compact)) <= 2
              or compact.isdigit() or _is_run(compact) or _is_run(base)
              or (base and any(base == w * (len(base) // len(w)) for w in COMMON_PASSWORDS
                               if len(w) >= 3 and len(base) % len(w) == 0)))
    if common:
        return "password is too common (on the list of frequently used passwords, a keyboard " \
               "run or a repeated word): choose a longer phrase of unrelated words"
    if "myotrial" in compact or (username and len(username) >= 3
                                 and username.casefold() in compact):
        return "password must not contain the user name or the application's name"
    return None
