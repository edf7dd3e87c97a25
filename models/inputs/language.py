"""Does a text look like it is in the model's language? A cheap, documented guess behind a note, never a gate.

The embedded text model (all-MiniLM-L6-v2) was trained on English: it tokenises a French or German sentence into
English word pieces and still returns confident classes, which then mean little. ``language_note`` looks at the
text's words (runs of letters, lower-cased) and says so when

1. most of its letters are outside the Latin script (Cyrillic, Greek, Arabic, CJK ...): "written mostly in ...";
2. the function words of one of a few other languages (French, German, Spanish, Italian, Portuguese, Dutch: their
   articles, pronouns and particles, words English does not share) make up at least ``FOREIGN_SHARE`` of the words
   and more than English's own function words do: "looks like French";
3. a text of at least ``MIN_WORDS_NONE`` words holds no common English function word at all.

Texts under ``MIN_WORDS`` words are too short to tell and get no note. Function words were chosen for this test:
words common in English *and* another language ("a", "in", "on", "die", "was", "so", "an", "son") are in neither
list. It is a guess: a French sentence full of English names can pass, an English list of nouns can be flagged by
rule 3. It reads only the text, in microseconds, and never stops a run."""

from __future__ import annotations

import re
import unicodedata

MIN_WORDS = 4
MIN_WORDS_NONE = 8
FOREIGN_SHARE = 0.15

ENGLISH = frozenset("""
the of and to is are was were be been being it its this that these those with for from by at as or but not no
he she they we you i me my your his her their our them him us what which who whom whose when where why how
there here have has had do does did will would shall should can could may might must than then very just also
about into over after before because if while all any some each other such only own same too more most
""".split())

OTHERS = {
    "French": frozenset("""
le la les des du une est et sont je tu il elle nous vous ils elles ne pas que qui ce cette ces mais avec pour
dans sur sans très mon ton sa ses leur leurs au aux être été avoir fait était c'est n'est j'ai qu'il y
""".split()),
    "German": frozenset("""
der das und ist nicht ein eine einen einem einer ich du er sie es wir ihr mit sich auf für den dem des zu
auch aber sehr sind war wurde hat haben noch nur wie oder wenn dass ja nein kein keine mein dein sein ihre
""".split()),
    "Spanish": frozenset("""
el los las una es y son yo tú él ella nosotros ellos lo pero con para por muy mi su sus del al está
este esta esto eso fue ser había también porque cuando donde qué muy más
""".split()),
    "Italian": frozenset("""
il lo gli una è e sono io lui lei noi voi loro non che chi ma con per nel nella della delle degli molto
questo questa quello era essere anche perché quando dove più
""".split()),
    "Portuguese": frozenset("""
os uma é e são eu ele ela nós eles não que mas com para por muito meu seu sua do da dos das no na
este esta isso foi ser também porque quando onde mais
""".split()),
    "Dutch": frozenset("""
de het een en is zijn ik jij hij zij wij niet met voor van op te dat deze dit maar ook zeer heel
mijn jouw haar hun was werd heeft hebben nog alleen wanneer omdat
""".split()),
}
# a word in two lists counts for neither language over the other: only words of one language remain
_SEEN = {}
for _lang, _words in OTHERS.items():
    for _w in _words:
        _SEEN[_w] = _SEEN.get(_w, 0) + 1
OTHERS = {lang: frozenset(w for w in words if _SEEN[w] == 1 and w not in ENGLISH) for lang, words in OTHERS.items()}

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str) -> list[str]:
    """The text's words: runs of letters (an inner apostrophe kept: "c'est", "don't"), lower-cased."""
    return [w.lower() for w in _WORD.findall(text.replace("’", "'"))]


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else ""


def language_note(text: str, language: str = "English") -> str | None:
    """A sentence for the page when ``text`` looks like another language than ``language`` (the model's), else
    None. Only English has the lists above: for another ``language`` no note is given."""
    if language != "English":
        return None
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    scripts: dict[str, int] = {}
    for ch in letters:
        scripts[_script(ch)] = scripts.get(_script(ch), 0) + 1
    main, count = max(scripts.items(), key=lambda kv: kv[1])
    if main != "LATIN" and count > 0.5 * len(letters):
        script = {"CJK": "Chinese characters", "HIRAGANA": "Japanese kana", "KATAKANA": "Japanese kana",
                  "HANGUL": "Korean Hangul"}.get(main, f"the {main.title()} script")
        return (f"This text is written mostly in {script}; the model reads English only, so its classes and "
                "explanations may mean little here.")
    found = words(text)
    if len(found) < MIN_WORDS:
        return None
    english = sum(w in ENGLISH for w in found) / len(found)
    shares = {lang: sum(w in ws for w in found) / len(found) for lang, ws in OTHERS.items()}
    other, share = max(shares.items(), key=lambda kv: kv[1])
    if share >= FOREIGN_SHARE and share > english:
        return (f"This text looks like {other} ({share:.0%} of its words are common {other} words, {english:.0%} "
                "English ones); the model reads English only, so its classes and explanations may mean little here.")
    if english == 0 and len(found) >= MIN_WORDS_NONE:
        return (f"None of this text's {len(found)} words is a common English word; if it is in another language, "
                "note that the model reads English only.")
    return None
