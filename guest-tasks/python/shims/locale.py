"""A minimal ``locale`` for the sandboxed CPython, which ships without one
(``argparse`` imports ``gettext``, which imports this): the C locale,
UTF-8. Bundled only into components, never on a native Python's path."""

LC_CTYPE = 0
LC_COLLATE = 1
LC_TIME = 2
LC_MONETARY = 3
LC_NUMERIC = 4
LC_ALL = 6
LC_MESSAGES = 5
CHAR_MAX = 127


class Error(Exception):
    pass


def setlocale(category, locale=None):
    if locale not in (None, "", "C", "POSIX", "C.UTF-8"):
        raise Error("unsupported locale setting")
    return "C"


def getlocale(category=LC_CTYPE):
    return (None, None)


def getdefaultlocale(envvars=("LC_ALL", "LC_CTYPE", "LANG", "LANGUAGE")):
    return (None, "UTF-8")


def getpreferredencoding(do_setlocale=True):
    return "UTF-8"


def getencoding():
    return "UTF-8"


def normalize(localename):
    return localename


def localeconv():
    return {
        "decimal_point": ".",
        "thousands_sep": "",
        "grouping": [],
        "int_curr_symbol": "",
        "currency_symbol": "",
        "mon_decimal_point": "",
        "mon_thousands_sep": "",
        "mon_grouping": [],
        "positive_sign": "",
        "negative_sign": "",
        "int_frac_digits": CHAR_MAX,
        "frac_digits": CHAR_MAX,
        "p_cs_precedes": CHAR_MAX,
        "p_sep_by_space": CHAR_MAX,
        "n_cs_precedes": CHAR_MAX,
        "n_sep_by_space": CHAR_MAX,
        "p_sign_posn": CHAR_MAX,
        "n_sign_posn": CHAR_MAX,
    }


def strcoll(a, b):
    return (a > b) - (a < b)


def strxfrm(s):
    return s


def str(val):  # noqa: A001 - the stdlib's name
    return "%.12g" % val


def atof(string, func=float):
    return func(string)


def atoi(string):
    return int(string)
