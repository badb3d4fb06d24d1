"""The vocabulary and categories of the embedded model's small world.

Inputs are short sentences around one keyword; each keyword belongs to one
category, and categories group into super-categories. Tasks classify a
sentence by its keyword's category (or super-category) and name the classes
with label words. Everything here is plain data shared by the corpus
generator, the tokenizer builder and the built-in task packs.
"""

CATEGORIES: dict[str, list[str]] = {
    "animal": "cat dog horse cow pig sheep goat mouse rabbit lion tiger bear wolf fox deer monkey".split(),
    "bird": "eagle owl duck goose swan parrot crow robin hawk pigeon sparrow penguin hen gull stork raven".split(),
    "fish": "salmon trout shark tuna cod carp eel herring sardine pike perch mackerel bass minnow catfish ray".split(),
    "fruit": "apple pear plum grape peach cherry lemon banana mango melon kiwi lime berry fig apricot papaya".split(),
    "vegetable": "carrot potato onion cabbage pea bean leek turnip radish celery spinach lettuce garlic beet squash kale".split(),
    "tool": "hammer saw drill wrench chisel spanner pliers axe shovel rake file clamp ladder trowel mallet screwdriver".split(),
    "vehicle": "car bus truck train bike boat ship plane tram van taxi tractor scooter rocket jeep canoe".split(),
    "clothing": "shirt coat hat scarf glove sock shoe boot dress skirt jacket sweater belt tie vest cap".split(),
    "furniture": "chair table sofa bed desk shelf stool bench cabinet dresser couch wardrobe lamp crib mirror rug".split(),
    "instrument": "piano violin guitar drum flute harp trumpet cello banjo organ oboe tuba clarinet bugle lute viola".split(),
}

# Typical adjectives: most inputs put one before the keyword, so a category also
# shows in the surface form (a shared word), not only in the keyword's meaning.
ADJECTIVES: dict[str, list[str]] = {
    "animal": ["furry", "wild", "hungry"], "bird": ["feathered", "singing", "flying"],
    "fish": ["slippery", "scaly", "swimming"], "fruit": ["juicy", "ripe", "sweet"],
    "vegetable": ["leafy", "crunchy", "muddy"], "tool": ["sharp", "heavy", "rusty"],
    "vehicle": ["fast", "noisy", "parked"], "clothing": ["warm", "woolen", "ironed"],
    "furniture": ["wooden", "comfy", "polished"], "instrument": ["loud", "tuned", "musical"],
}
ADJECTIVE_SHARE = 0.7

SUPER_CATEGORIES: dict[str, list[str]] = {
    "creature": ["animal", "bird", "fish"],
    "plant": ["fruit", "vegetable"],
    "object": ["tool", "vehicle", "clothing", "furniture", "instrument"],
}

# Sentence frames ending with the keyword {w}. Filler words are shared by every
# category, so only the keyword carries the class.
FRAMES: list[str] = [
    "{w}", "a {w}", "the {w}", "my {w}", "i got a {w}", "look at the {w}",
    "we like the {w}", "there is a {w}", "she has a new {w}", "he found an old {w}",
    "a big {w}", "a small {w}", "they want the {w}", "where is my {w}",
    "you need a {w}", "it was a nice {w}",
]
# Frames never used in training: the out-of-distribution evaluation tasks use them.
HELD_OUT_FRAMES: list[str] = [
    "today we talked about the {w}", "nobody expected that {w}",
    "please bring me the {w}", "under the old bridge lay a {w}",
]

LABEL_WORDS: list[str] = (
    "yes no true false good bad left right up down high low alpha beta gamma delta "
    "north south east west sun moon star sky one two three four red blue green gold "
    "A B C D positive negative neutral zip zap"
).split()

# No training sequence uses two or more of these together, so any label tuple
# drawn only from them is an assignment the model never saw in training.
HELD_OUT_LABEL_WORDS: frozenset[str] = frozenset(
    "yes no A B C D positive negative neutral good bad".split()
)

def frame_words(frames: list[str]) -> set[str]:
    """Every filler word used by the given frames."""
    return {t for f in frames for t in f.replace("{w}", " ").split()}


def all_words() -> list[str]:
    """Every word the tokenizer must know, in a fixed order."""
    words: list[str] = ["Text", "Label", "Input", "Answer", "Category", "Sentence", "Output", "Class"]
    words += sorted(frame_words(FRAMES + HELD_OUT_FRAMES))
    words += [w for ws in CATEGORIES.values() for w in ws]
    words += [a for adjs in ADJECTIVES.values() for a in adjs]
    words += list(CATEGORIES) + list(SUPER_CATEGORIES)
    words += LABEL_WORDS
    seen: set[str] = set()
    return [w for w in words if not (w in seen or seen.add(w))]
