"""A small extractive question-answering dataset generated from templates (SQuAD-style rows).

Each context is a short biography of an invented person: by default one or two facts and one
sentence without an answer, in random order, each written with one of several sentence
templates; the question asks for one of the facts in one of several forms, and the answer is a
span of the context. The people and their pets are split between train and test, so every
held-out question is about someone the model never saw: it can only score by learning *where*
an answer sits (which relation the question asks about, and where that value starts and ends),
not by memorising answers. Places, jobs, years and the other values come from lists shared by
both splits unless `disjoint="all"`, and `invented` swaps training values for made-up words;
both make the task much harder.

Everything is generated from a fixed seed, with no download.

Examples:

>>> from keras_models.datasets import templated_qa
>>> train, test = templated_qa.load(train_size=4, test_size=2)
>>> sorted(train)
['answer_start', 'answer_text', 'context', 'id', 'question']
>>> row = 0
>>> start = train["answer_start"][row]
>>> train["context"][row][start : start + len(train["answer_text"][row])] == train[
...     "answer_text"
... ][row]
True
>>> templated_qa.exact_match("The Violin.", "violin"), templated_qa.f1("red fox", "a fox")
(1.0, 0.6666666666666666)
"""

import collections
import random
import re
import string

FIRST_NAMES = (
    "Alice Bruno Clara Dmitri Elena Farid Grace Hugo Ines Jonas Keiko Liam Maya Nikolai Olga "
    "Pablo Quinn Rosa Samir Tara Ulrich Vera Wendell Ximena Yusuf Zora Anton Bianca Cedric "
    "Daria Emil Fiona Gustav Hana Ivan Jade Kofi Lena Marco Nadia Oscar Priya Rafael Sofia "
    "Tomas Uma Victor Wanda Xavier Yara Zane Amara Boris Celine Dario Esther Felix Greta Henrik "
    "Isla Joaquin Kira Lucas Mireille Nils Odette Pedro Rhea Stefan Thea Valentin Willa"
).split()
SURNAMES = (
    "Abbott Becker Castillo Dubois Eriksen Fontaine Garcia Hoffmann Ivanova Jensen Kowalski "
    "Lindqvist Moreau Novak Okafor Petrov Quintero Rossi Schmidt Tanaka Ulloa Varga Weber "
    "Yilmaz Zimmermann Almeida Brennan Costa Delgado Engel Farrow Gallagher Haddad Ibsen "
    "Jovanovic Keller Larsen Mendes Nakamura Oliveira Pereira Quigley Romano Sandoval Takahashi "
    "Underwood Vasquez Whitfield Young Zeller Arnaud Baptiste Carvalho Drummond Esposito Fischer "
    "Grant Holm Ishikawa Jaramillo Kaplan Lambert Marsh Nilsen Ortega Pacheco Reyes Santos"
).split()
CITIES = (
    "Lisbon|Vienna|Oslo|Nairobi|Lima|Kyoto|Dublin|Montreal|Seville|Krakow|Porto|Bergen|"
    "Adelaide|Valparaiso|Marrakesh|Tbilisi|Hanoi|Cork|Ghent|Turin|Salzburg|Tallinn|Riga|"
    "Zagreb|Ljubljana|Bologna|Lyon|Utrecht|Aarhus|Tampere|Gdansk|Brno|Graz|Basel|Bilbao|"
    "Malaga|Naples|Palermo|Leipzig|Dresden|Geneva|Quebec City|Buenos Aires|San Diego|"
    "Cape Town|Hong Kong|New Orleans|Rio de Janeiro|Kuala Lumpur|Mexico City|Tel Aviv|"
    "Ho Chi Minh City|Santa Fe|Las Vegas|Salt Lake City|St Louis"
).split("|")
COUNTRIES = (
    "Portugal|Austria|Norway|Kenya|Peru|Japan|Ireland|Canada|Spain|Poland|Chile|Morocco|"
    "Georgia|Vietnam|Belgium|Italy|Estonia|Latvia|Croatia|Slovenia|France|the Netherlands|"
    "Denmark|Finland|Czechia|Switzerland|Germany|Argentina|Brazil|Malaysia|Mexico|Israel|"
    "New Zealand|South Africa|the United States|Iceland|Greece|Turkey|Egypt|India"
).split("|")
JOBS = (
    "architect|baker|carpenter|dentist|electrician|farmer|geologist|historian|journalist|"
    "librarian|marine biologist|nurse|optician|pharmacist|pilot|plumber|software engineer|"
    "surgeon|teacher|translator|veterinarian|watchmaker|violin maker|data analyst|"
    "firefighter|photographer|park ranger|chemist|economist|tailor|bus driver|lawyer|"
    "astronomer|beekeeper|cartographer|florist|glassblower|interior designer"
).split("|")
INSTRUMENTS = (
    "violin|cello|piano|flute|trumpet|guitar|harp|clarinet|saxophone|drums|accordion|oboe|"
    "banjo|bassoon|ukulele|trombone|harmonica|mandolin|double bass|tuba|bagpipes|viola"
).split("|")
PET_NAMES = (
    "Biscuit Pepper Mango Shadow Noodle Pickles Ziggy Waffles Clover Bandit Marble Olive "
    "Peanut Rocket Sprout Truffle Button Comet Dumpling Fudge Gizmo Hazel Jellybean Kiwi "
    "Muffin Nugget Pumpkin Rascal Sesame Tofu Whiskers Yoda Acorn Bubbles Cocoa Dotty"
).split()
PETS = ("dog", "cat", "parrot", "rabbit", "tortoise", "hamster", "goldfish", "pony")
COLOURS = (
    "crimson|teal|amber|lavender|olive green|navy blue|coral|turquoise|maroon|ivory|"
    "mustard yellow|charcoal grey|emerald|lilac|burgundy|sky blue|peach|silver|indigo|"
    "rust orange|mint green|scarlet"
).split("|")

# Each relation: how its value is drawn, the sentences that state it ({name} is the person,
# {value} the answer), and the questions that ask for it.
RELATIONS = {
    "born_city": (
        "city",
        [
            "{name} was born in {value}.",
            "{name} was born and raised in {value}.",
            "The city of {value} is where {name} was born.",
            "{name} grew up in {value}, the city of their birth.",
            "Born in {value}, {name} never lost the local accent.",
        ],
        [
            "Where was {name} born?",
            "In which city was {name} born?",
            "What is the birthplace of {name}?",
            "Which city did {name} grow up in?",
            "{name} was born in which city?",
        ],
    ),
    "born_year": (
        "year",
        [
            "{name} was born in the year {value}.",
            "{name}'s year of birth is {value}.",
            "In {value}, {name} was born.",
            "{name} arrived in the world in {value}.",
        ],
        [
            "In what year was {name} born?",
            "When was {name} born?",
            "What year was {name} born in?",
            "What is the birth year of {name}?",
        ],
    ),
    "job": (
        "job",
        [
            "{name} works as a {value}.",
            "By profession, {name} is a {value}.",
            "{name} trained for years to become a {value}.",
            "These days {name} earns a living as a {value}.",
            "{name} has been a {value} for a long time.",
        ],
        [
            "What does {name} do for a living?",
            "What is {name}'s job?",
            "What is the profession of {name}?",
            "What does {name} work as?",
            "Which job does {name} have?",
        ],
    ),
    "instrument": (
        "instrument",
        [
            "{name} plays the {value} in a local band.",
            "In the evenings, {name} practises the {value}.",
            "{name} learned to play the {value} as a child.",
            "The {value} is the instrument {name} loves most.",
        ],
        [
            "Which instrument does {name} play?",
            "What instrument does {name} practise?",
            "What does {name} play in the band?",
            "Which musical instrument does {name} love?",
        ],
    ),
    "pet": (
        "pet",
        [
            "{name} has a {pet} called {value}.",
            "{name}'s {pet} is named {value}.",
            "At home, {name} looks after a {pet} named {value}.",
            "A {pet} called {value} lives with {name}.",
        ],
        [
            "What is the name of {name}'s {pet}?",
            "What is {name}'s {pet} called?",
            "What did {name} name the {pet}?",
            "Whose name is on the collar of {name}'s {pet}?",
        ],
    ),
    "colour": (
        "colour",
        [
            "{name}'s favourite colour is {value}.",
            "{name} likes {value} more than any other colour.",
            "Most of {name}'s clothes are {value}.",
            "{name} painted the front door {value}.",
        ],
        [
            "What is {name}'s favourite colour?",
            "Which colour does {name} like best?",
            "What colour does {name} prefer?",
            "What is the favourite colour of {name}?",
        ],
    ),
    "country": (
        "country",
        [
            "{name} now lives in {value}.",
            "A few years ago {name} moved to {value}.",
            "{name} currently resides in {value}.",
            "Today {name} makes a home in {value}.",
        ],
        [
            "Which country does {name} live in?",
            "Where does {name} live now?",
            "To which country did {name} move?",
            "In what country does {name} reside?",
        ],
    ),
}
_POOLS = {
    "first": FIRST_NAMES,
    "last": SURNAMES,
    "city": CITIES,
    "country": COUNTRIES,
    "job": JOBS,
    "instrument": INSTRUMENTS,
    "pet": PET_NAMES,
    "colour": COLOURS,
    "year": [str(year) for year in range(1900, 2006)],
}
TRAIN_FRACTION = 0.7
# The pools naming the entities a question is about (people and their pets).
ENTITY_POOLS = ("first", "last", "pet")


def split_pools(seed=0, disjoint=ENTITY_POOLS):
    """`(train_pools, test_pools)`: each pool named in `disjoint` (or every pool for "all") is
    shuffled with `seed` and cut in two disjoint parts; the others are shared by both splits."""
    if disjoint == "all":
        disjoint = tuple(_POOLS)
    unknown = set(disjoint) - set(_POOLS)
    if unknown:
        raise ValueError(
            f"`disjoint` names unknown pools {sorted(unknown)}; pools: {list(_POOLS)}."
        )
    rng = random.Random(seed)
    train, test = {}, {}
    for key, values in _POOLS.items():
        values = list(values)
        rng.shuffle(values)
        cut = int(len(values) * TRAIN_FRACTION) if key in disjoint else len(values)
        train[key], test[key] = values[:cut], values[cut:] or values
    return train, test


_ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl dr fl gr kr pl sh st tr th".split()
_VOWELS = "a e i o u a e i o ai ea ou".split()
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "nd", "st", "k"]
# How many invented words a value of each pool has (min, max), and whether it is capitalised.
_INVENTED = {
    "first": (1, 1, True),
    "last": (1, 1, True),
    "city": (1, 2, True),
    "country": (1, 2, True),
    "job": (1, 2, False),
    "instrument": (1, 1, False),
    "pet": (1, 1, True),
    "colour": (1, 2, False),
}


def _invented_word(rng):
    syllables = rng.randint(1, 2)
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
    return word + rng.choice(_CODAS)


def _value(rng, pools, pool, invented):
    """A value of `pool`; with probability `invented` (training only) a made-up one, so that
    the model cannot get by on recognising the values it saw and must read the context."""
    if pool == "year" or rng.random() >= invented:
        return rng.choice(pools[pool])
    low, high, capital = _INVENTED[pool]
    words = [_invented_word(rng) for _ in range(rng.randint(low, high))]
    return " ".join(w.capitalize() if capital else w for w in words)


# Sentences about the person that hold no answer (distractors around the facts).
FILLERS = [
    "{name} enjoys long walks on quiet mornings.",
    "Friends say that {name} is patient and kind.",
    "{name} reads a few pages every night before bed.",
    "On weekends {name} often cooks for the whole family.",
    "{name} rarely watches television.",
    "Neighbours know {name} as a generous host.",
    "{name} keeps a small garden behind the house.",
    "Every summer {name} travels somewhere new.",
    "{name} has kept a diary for many years.",
    "Few people know that {name} is afraid of heights.",
]


def _example(rng, pools, index, invented=0.0, facts=(2, 3), fillers=(0, 0)):
    first = _value(rng, pools, "first", invented)
    last = _value(rng, pools, "last", invented)
    full = f"{first} {last}"
    relations = rng.sample(sorted(RELATIONS), rng.randint(*facts))
    pet = rng.choice(PETS)
    sentences = []
    for position, relation in enumerate(relations):
        pool, statements, _ = RELATIONS[relation]
        value = _value(rng, pools, pool, invented)
        # The first sentence names the person in full; later ones use the full or first name.
        name = full if position == 0 or rng.random() < 0.4 else first
        sentence = rng.choice(statements).format(name=name, value=value, pet=pet)
        if value[0] in "aeiou":
            sentence = sentence.replace(f" a {value}", f" an {value}")
        sentences.append((relation, value, sentence[0].upper() + sentence[1:]))
    asked = rng.randrange(len(sentences))
    relation, answer, _ = sentences[asked]
    for filler in rng.sample(FILLERS, rng.randint(*fillers)):
        sentence = filler.format(name=full if rng.random() < 0.4 else first)
        sentences.insert(rng.randrange(len(sentences) + 1), (None, None, sentence))
    asked = [i for i, (_, value, _) in enumerate(sentences) if value == answer][0]
    context, start = "", None
    for i, (_, value, sentence) in enumerate(sentences):
        if context:
            context += " "
        if i == asked:
            start = len(context) + sentence.index(value)
        context += sentence
    name = full if rng.random() < 0.7 else first
    question = rng.choice(RELATIONS[relation][2]).format(name=name, pet=pet)
    question = question[0].upper() + question[1:]
    return {
        "id": str(index),
        "question": question,
        "context": context,
        "answer_text": answer,
        "answer_start": start,
    }


def generate(size, pools, seed, invented=0.0, facts=(2, 3), fillers=(0, 0)):
    """`size` rows drawn from `pools` with a `random.Random(seed)`, as a dict of lists; each
    value is an invented word with probability `invented`; each context holds between
    `facts[0]` and `facts[1]` facts and between `fillers[0]` and `fillers[1]` sentences
    without an answer."""
    rng = random.Random(seed)
    rows = [_example(rng, pools, i, invented, facts, fillers) for i in range(size)]
    return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}


def load(
    train_size=2000,
    test_size=200,
    seed=0,
    invented=0.0,
    facts=(1, 2),
    fillers=(1, 1),
    disjoint=ENTITY_POOLS,
):
    """The train and held-out test splits, as dicts of lists (`id`, `question`, `context`,
    `answer_text`, `answer_start`: the character offset of the answer in the context).

    Args:
        train_size: rows in the training split.
        test_size: rows in the test split (its entities never occur in the training split).
        seed: the seed of the entity split and of both generators.
        invented: the share of training values (names, places, jobs ...; not years) that are
            invented words instead of draws from the training pools. The test split always
            uses its own pools.
        facts: `(fewest, most)` facts per context (the question asks for one of them).
        fillers: `(fewest, most)` sentences without an answer per context.
        disjoint: the value pools split between train and test: by default the people and pet
            names (so every held-out question is about someone never seen in training, while
            places, jobs, years ... come from shared lists), or "all" to split every pool (a
            much harder task: the 64-wide random `roberta_tiny` reaches about 0.35 exact match
            on it within the demo's budget, against 0.8 with the default).
    """
    if train_size < 1 or test_size < 1:
        raise ValueError(
            f"`train_size` and `test_size` must be >= 1; got {train_size}, {test_size}."
        )
    if not 0.0 <= invented <= 1.0:
        raise ValueError(f"`invented` must be in [0, 1]; got {invented}.")
    train_pools, test_pools = split_pools(seed, disjoint)
    if disjoint == "all":
        disjoint = tuple(_POOLS)
    train = generate(train_size, train_pools, seed + 1, invented, facts, fillers)
    test = generate(test_size, test_pools, seed + 2, 0.0, facts, fillers)
    # An invented word that happens to be a test value would leak it: such rows are redrawn.
    held_out = {v.lower() for key in disjoint for v in test_pools[key]}
    leaks = [i for i, text in enumerate(train["context"]) if _mentions(text, held_out)]
    for offset, i in enumerate(leaks):
        row = generate(1, train_pools, seed + 1000 + offset, 0.0, facts, fillers)
        for key in row:
            if key != "id":
                train[key][i] = row[key][0]
    return train, test


def _mentions(text, values):
    """Whether `text` holds one of `values` (lower-case words or pairs of words)."""
    words = re.findall(r"[a-z]+|[0-9]+", text.lower())
    found = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
    return bool(found & values)


def corpus(size=400, seed=1234):
    """English text the embedded tokenizers are trained on (besides Python's own docstrings):
    every value of every pool, and `size` questions and contexts drawn from all pools. A
    tokenizer sees words, never which answer goes with which question."""
    lines = [" ".join(values) for values in _POOLS.values()] + [" ".join(PETS)]
    rows = generate(size, _POOLS, seed)
    return lines + rows["question"] + rows["context"]


# --- SQuAD-style scoring -------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, truth):
    """1.0 when the normalised answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction, truth):
    """SQuAD's token-overlap F1 between normalised answers."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((collections.Counter(pred) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def score(predictions, truths):
    """`{"exact_match", "f1"}`: the means over rows (fractions in [0, 1])."""
    if len(predictions) != len(truths):
        raise ValueError(
            f"`predictions` has {len(predictions)} rows but `truths` has {len(truths)}."
        )
    n = max(len(truths), 1)
    return {
        "exact_match": sum(map(exact_match, predictions, truths)) / n,
        "f1": sum(map(f1, predictions, truths)) / n,
    }
