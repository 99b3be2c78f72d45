import unittest


class ParserTest(unittest.TestCase):
    def test_parse(self):
        # ruleid: deprecated-unittest-alias
        self.assertEquals(parse("1"), 1)
        # ruleid: deprecated-unittest-alias
        self.assertNotEquals(parse("2"), 1)
        # ruleid: deprecated-unittest-alias
        self.assertAlmostEquals(parse("0.1") + parse("0.2"), 0.3)
        # ruleid: deprecated-unittest-alias
        self.assertNotAlmostEquals(
            parse("0.1"),
            1.0,
        )
        # ok: deprecated-unittest-alias
        self.assertEqual(parse("3"), 3)
        # ok: deprecated-unittest-alias
        self.assertAlmostEqual(parse("0.5"), 0.5)


def parse(text):
    return float(text)


class LegacyChecks:
    def assertEquals(self, a, b):
        return a == b

    def check(self):
        # ok: deprecated-unittest-alias
        return self.assertEquals(1, 1)
