import os
from os import popen


def convert(src, dst):
    # ruleid: os-system-call
    os.system("convert %s %s" % (src, dst))
    # ruleid: os-system-call
    listing = popen(f"ls {src}").read()
    # ok: os-system-call
    os.system("clear")
    return listing
