import jwt


def current_user(token, key):
    # ruleid: jwt-decode-without-verification
    claims = jwt.decode(token, options={"verify_signature": False})
    # ruleid: jwt-decode-without-verification
    legacy = jwt.decode(token, key, verify=False)
    # ruleid: jwt-decode-without-verification
    weak = jwt.decode(token, key, algorithms=["HS256", "none"])
    opts = {"verify_signature": False, "verify_exp": True}
    # ruleid: jwt-decode-without-verification
    other = jwt.decode(token, key, algorithms=["HS256"], options=opts)
    # ok: jwt-decode-without-verification
    verified = jwt.decode(token, key, algorithms=["HS256"])
    # ok: jwt-decode-without-verification
    header = jwt.get_unverified_header(token)
    # ok: jwt-decode-without-verification
    no_exp = jwt.decode(token, key, algorithms=["RS256"], options={"verify_exp": False})
    return claims, legacy, weak, other, verified, header, no_exp
