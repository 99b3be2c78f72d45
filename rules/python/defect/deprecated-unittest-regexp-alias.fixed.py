import unittest


class ConfigTest(unittest.TestCase):
    def test_errors(self):
        # ruleid: deprecated-unittest-regexp-alias
        with self.assertRaisesRegex(ValueError, r"bad \w+"):
            load("x")
        # ruleid: deprecated-unittest-regexp-alias
        self.assertRegex(render(), r"^ok")
        # ruleid: deprecated-unittest-regexp-alias
        self.assertNotRegex(render(), "error")
        # ok: deprecated-unittest-regexp-alias
        self.assertRegex(render(), r"^ok")
        # ok: deprecated-unittest-regexp-alias
        with self.assertRaisesRegex(ValueError, "bad"):
            load("x")


def load(text):
    raise ValueError("bad " + text)


def render():
    return "ok"
