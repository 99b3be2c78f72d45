import asyncio
import functools
import subprocess
from subprocess import check_output


def archive(name, dest):
    # ruleid: subprocess-shell-true
    subprocess.run(f"tar czf {dest} {name}", shell=True, check=True)
    cmd = "grep -r " + name + " /var/log"
    # ruleid: subprocess-shell-true
    out = check_output(cmd, shell=True)
    # ruleid: subprocess-shell-true
    status = subprocess.getoutput("ls " + dest)
    # ok: subprocess-shell-true
    subprocess.run(["tar", "czf", dest, name], check=True)
    # ok: subprocess-shell-true
    subprocess.run("ls -l /tmp | wc -l", shell=True)
    # ok: subprocess-shell-true
    subprocess.run(f"echo {name}", shell=False)
    return out, status


async def run_async(user_cmd):
    # ruleid: subprocess-shell-true
    proc = await asyncio.create_subprocess_shell(user_cmd)
    return await proc.wait()


def indirect(name, dest):
    run = subprocess.check_output  # the function stored in a local
    # ruleid: subprocess-shell-true
    listing = run("ls " + dest, shell=True)
    shell_run = functools.partial(subprocess.run, shell=True, check=True)
    # ruleid: subprocess-shell-true
    shell_run(f"rm -rf {dest}/{name}")
    options = {"shell": True, "text": True}
    # ruleid: subprocess-shell-true
    found = subprocess.check_output("find " + dest, **options)
    # ok: subprocess-shell-true
    run(["ls", dest])
    safe = {"shell": False}
    # ok: subprocess-shell-true
    subprocess.call("echo " + name, **safe)
    return listing, found
