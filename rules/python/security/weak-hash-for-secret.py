import hashlib


def store(user, password, data):
    # ruleid: weak-hash-for-secret
    user.password_hash = hashlib.md5(password.encode()).hexdigest()
    # ruleid: weak-hash-for-secret
    digest = hashlib.sha1(user.api_key.encode("utf-8")).hexdigest()
    # ruleid: weak-hash-for-secret
    reset_token = hashlib.md5(f"{user.id}{data}".encode()).hexdigest()
    # ruleid: weak-hash-for-secret
    h = hashlib.new("md5")
    h.update(password.encode())
    # ok: weak-hash-for-secret
    etag = hashlib.md5(data).hexdigest()
    # ok: weak-hash-for-secret
    cache_key = hashlib.sha1(repr(data).encode(), usedforsecurity=False).hexdigest()
    # ok: weak-hash-for-secret
    token_digest = hashlib.sha256(password.encode()).hexdigest()
    return digest, reset_token, etag, cache_key, token_digest
