"""A helper module imported by helper_import.py; not a program itself."""

SCALE = 3


def triple(x):
    return x * SCALE


def describe(values):
    return "%d values, max %s" % (len(values), max(values))


class Tally:
    def __init__(self):
        self.items = []

    def add(self, x):
        self.items.append(x)
        return len(self.items)
