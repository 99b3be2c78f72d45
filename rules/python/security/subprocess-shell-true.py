import asyncio
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
