import random
import secrets
import string

ALPHABET = string.ascii_letters + string.digits


def make_token(n=32):
    # ruleid: insecure-random-for-secret
    return "".join(random.choice(ALPHABET) for _ in range(n))


def signup(user):
    # ruleid: insecure-random-for-secret
    user.reset_code = random.randint(100000, 999999)
    # ruleid: insecure-random-for-secret
    api_key = "%032x" % random.getrandbits(128)
    # ok: insecure-random-for-secret
    user.session_token = secrets.token_urlsafe(32)
    # ok: insecure-random-for-secret
    delay = random.uniform(0.5, 1.5)
    # ok: insecure-random-for-secret
    sample = random.sample(range(100), 10)
    return api_key, delay, sample
