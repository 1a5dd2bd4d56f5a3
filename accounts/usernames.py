"""Usernames that look like someone else's. Two defences, both in User.clean (so every form
that names a user has them: the invite sign-up, the first-run form, the admin's):

- a name mixes scripts ("paypal" with a Cyrillic a in it): refused, whoever exists;
- a name's skeleton is an existing user's ("admin" written all in Cyrillic look-alikes next
  to the Latin "admin", or "ADMIN"): refused. The skeleton is NFKC (fullwidth letters
  become ASCII), casefolded, with the Cyrillic and Greek letters that pass for Latin ones
  read as those Latin letters. A small map of the common look-alikes, not Unicode's whole
  confusables table: enough for the letters a name is spoofed with, nothing to download.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Lower case only: names are casefolded first (a capital Cyrillic A folds to the small one).
# Written as escapes: the letters themselves cannot be told from the Latin ones they map to.
LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u04bb": "h", "\u043d": "h",
        "\u0456": "i", "\u0457": "i", "\u0458": "j", "\u043a": "k", "\u04cf": "l", "\u043c": "m",
        "\u043e": "o", "\u0440": "p", "\u051b": "q", "\u0455": "s", "\u0441": "c", "\u0442": "t",
        "\u0443": "y", "\u051d": "w", "\u0445": "x", "\u0501": "d",
        # Greek
        "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b7": "n", "\u03b9": "i", "\u03ba": "k",
        "\u03bc": "u", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u",
        "\u03c7": "x", "\u03b6": "z", "\u03f2": "c", "\u03f3": "j",
        # Latin script g
        "\u0261": "g",
    }
)  # fmt: skip

# Scripts that are written together: a Japanese name mixes kanji and kana, a Korean one may
# hold hanja.
SCRIPT_FAMILIES = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "IDEOGRAPHIC": "CJK"}

MIXED_SCRIPTS = _(
    "Use the letters of one script only (for example, not Latin and Cyrillic together)."
)
TOO_SIMILAR = _("This username is too similar to an existing username. Choose another.")


def skeleton(name: str) -> str:
    """What the name looks like: two names with the same skeleton pass for each other."""
    return unicodedata.normalize("NFKC", name).casefold().translate(LOOK_ALIKES)


def scripts(name: str) -> set[str]:
    """The scripts of the name's letters (digits and punctuation belong to none)."""
    found = set()
    for char in unicodedata.normalize("NFKC", name):
        if not char.isalpha():
            continue
        script = unicodedata.name(char, "UNKNOWN").split()[0]
        found.add(SCRIPT_FAMILIES.get(script, script))
    return found


def validate(name: str, others: list[str]) -> None:
    """ValidationError when `name` mixes scripts or passes for one of `others`."""
    if len(scripts(name)) > 1:
        raise ValidationError(MIXED_SCRIPTS, code="mixed_scripts")
    own = skeleton(name)
    if any(skeleton(other) == own for other in others):
        raise ValidationError(TOO_SIMILAR, code="look_alike")
